// plots.cc: gnuplot data files and script for a sweep (see plots.h).
#include "examples/launch/plots.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <system_error>

namespace mpimoe::launch {
namespace {

// A gnuplot single-quoted string (no escapes inside; a quote is doubled).
std::string GpString(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string Num(double v) { return FormatNumber(v, 9); }

std::string FileLabel(const std::string& label) {
  std::string out = label;
  for (char& c : out) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return out;
}

double ParseDouble(const std::string& s) {
  double v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// Common settings of every plot, then the output file.
std::string Begin(const std::string& png, const std::string& title,
                  const std::string& xlabel, const std::string& ylabel) {
  return "reset\nset output " + GpString(png) + "\nset title " + GpString(title) +
         "\nset xlabel " + GpString(xlabel) + "\nset ylabel " + GpString(ylabel) +
         "\nset grid\nset key outside right top\n";
}

// A line plot of `series` (title, x, y) from `data_file`, one index block each.
struct Series {
  std::string title;
  std::vector<std::pair<double, double>> xy;
};

void AddLinePlot(const std::vector<Series>& series, const std::string& data_file,
                 const std::string& png, const std::string& title,
                 const std::string& xlabel, const std::string& ylabel, bool logx,
                 PlotSet* set, std::string* script) {
  std::string data;
  std::string plot = "plot ";
  int index = 0;
  for (const Series& s : series) {
    if (s.xy.empty()) continue;
    data += "# " + s.title + "\n";
    for (const auto& [x, y] : s.xy) data += Num(x) + " " + Num(y) + "\n";
    data += "\n\n";  // two blank lines end a gnuplot index block
    if (index > 0) plot += ", \\\n     ";
    plot += GpString(data_file) + " index " + std::to_string(index) +
            " using 1:2 with linespoints title " + GpString(s.title);
    ++index;
  }
  if (index == 0) {
    set->notes.push_back(png + ": no data");
    return;
  }
  set->files.push_back({data_file, data});
  *script += Begin(png, title, xlabel, ylabel);
  if (logx) *script += "set logscale x 2\n";
  *script += plot + "\nunset output\n\n";
  set->pngs.push_back(png);
}

}  // namespace

PlotSet BuildPlots(const PlotRequest& request) {
  PlotSet set;
  std::string script = "# mpimoe-launch plots for '" + request.title +
                       "'; run `gnuplot plots.gp` in this directory.\n"
                       "set terminal pngcairo size 900,520 noenhanced font ',10'\n\n";

  // Loss and rank imbalance vs step, every point with metrics.
  std::vector<Series> loss, imbalance;
  for (const PlotPoint& p : request.points) {
    Series l{p.name, {}}, im{p.name, {}};
    for (const MetricsRecord& r : p.metrics) {
      l.xy.emplace_back(static_cast<double>(r.step), r.loss);
      if (r.rank_imbalance)
        im.xy.emplace_back(static_cast<double>(r.step), *r.rank_imbalance);
    }
    loss.push_back(std::move(l));
    imbalance.push_back(std::move(im));
  }
  AddLinePlot(loss, "loss.dat", "loss.png", request.title + ": training loss", "step",
              "loss", false, &set, &script);
  AddLinePlot(imbalance, "imbalance.dat", "imbalance.png",
              request.title + ": rank imbalance (max/mean expert rows per rank)", "step",
              "rank imbalance", false, &set, &script);

  // tokens/s vs each numeric axis with >= 2 distinct values.
  for (size_t a = 0; a < request.axes.size(); ++a) {
    const PlotAxis& axis = request.axes[a];
    if (!axis.numeric) continue;
    // Group key: the other axes' values; per group, x -> (sum, count).
    std::map<std::string, std::map<double, std::pair<double, int>>> groups;
    std::vector<std::string> group_order;
    std::map<double, int> distinct;
    for (const PlotPoint& p : request.points) {
      distinct[ParseDouble(p.axis_values[a])] = 1;
      if (!p.summary) continue;
      std::string key;
      for (size_t b = 0; b < request.axes.size(); ++b) {
        if (b == a) continue;
        if (!key.empty()) key += ",";
        key += request.axes[b].label + "=" + p.axis_values[b];
      }
      if (key.empty()) key = "tokens/s";
      if (!groups.count(key)) group_order.push_back(key);
      auto& cell = groups[key][ParseDouble(p.axis_values[a])];
      cell.first += p.summary->tokens_per_s;
      cell.second += 1;
    }
    if (distinct.size() < 2) continue;
    std::vector<Series> series;
    for (const std::string& key : group_order) {
      Series s{key, {}};
      for (const auto& [x, sum_count] : groups[key]) {
        s.xy.emplace_back(x, sum_count.first / sum_count.second);
      }
      series.push_back(std::move(s));
    }
    const std::string base = "tokens_per_s_vs_" + FileLabel(axis.label);
    AddLinePlot(series, base + ".dat", base + ".png",
                request.title + ": tokens/s vs " + axis.label, axis.label, "tokens/s",
                false, &set, &script);
  }

  // Heatmap: expert x logged step for one point and layer.
  if (request.heatmap_point >= 0 &&
      request.heatmap_point < static_cast<int>(request.points.size())) {
    const PlotPoint& p = request.points[request.heatmap_point];
    const int layer = request.heatmap_layer;
    std::vector<const MetricsRecord*> records;
    size_t experts = 0;
    for (const MetricsRecord& r : p.metrics) {
      if (layer < static_cast<int>(r.expert_tokens.size())) {
        records.push_back(&r);
        experts = std::max(experts, r.expert_tokens[layer].size());
      }
    }
    if (records.empty() || experts == 0) {
      set.notes.push_back("heatmap.png: point '" + p.name + "' has no expert_tokens" +
                          " for MoE layer " + std::to_string(layer));
    } else {
      std::string data = "# x = logged step index, y = expert, z = tokens\n";
      std::string xtics;
      const size_t stride = std::max<size_t>(1, (records.size() + 9) / 10);
      for (size_t i = 0; i < records.size(); ++i) {
        const std::vector<double>& counts = records[i]->expert_tokens[layer];
        for (size_t e = 0; e < experts; ++e) {
          data += std::to_string(i) + " " + std::to_string(e) + " " +
                  Num(e < counts.size() ? counts[e] : 0.0) + "\n";
        }
        data += "\n";
        if (i % stride == 0 || i + 1 == records.size()) {
          xtics += std::string(xtics.empty() ? "" : ", ") + "\"" +
                   std::to_string(records[i]->step) + "\" " + std::to_string(i);
        }
      }
      set.files.push_back({"heatmap.dat", data});
      script += Begin("heatmap.png",
                      request.title + ": tokens per expert, MoE layer " +
                          std::to_string(layer) + ", " + p.name,
                      "step", "expert");
      script += "set xrange [-0.5:" + std::to_string(records.size()) + "-0.5]\n" +
                "set yrange [-0.5:" + std::to_string(experts) + "-0.5]\n" +
                "set xtics (" + xtics + ")\n" + (experts <= 16 ? "set ytics 1\n" : "") +
                "unset grid\n" +
                "set cblabel 'tokens'\nset palette rgbformulae 33,13,10\n" +
                "plot 'heatmap.dat' using 1:2:3 with image notitle\nunset output\n\n";
      set.pngs.push_back("heatmap.png");
    }
  }
  set.files.push_back({kPlotScriptName, script});
  return set;
}

}  // namespace mpimoe::launch
