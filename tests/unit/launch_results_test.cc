// Tests of the launcher's results (examples/launch/results.h) and plots
// (examples/launch/plots.h): reading summary.json and metrics.jsonl as mpimoe-train
// writes them, rejecting incomplete ones, the CSV/Markdown tables, and the gnuplot
// files.
#include <gtest/gtest.h>

#include <string>

#include "examples/launch/plots.h"
#include "examples/launch/results.h"

namespace mpimoe::launch {
namespace {

constexpr char kSummary[] =
    R"({"name":"x","final_loss":0.51,"final_eval_loss":0.6,"first_loss":3.1,)"
    R"("tokens_per_s":12345.6,"world_size":2,"steps":40,"peak_rss_mb":88.5,)"
    R"("wall_s":7.25,"model_flops_per_step":1000})"
    "\n";

TEST(LaunchResults, ReadsACompleteSummary) {
  auto s = ParseSummary(kSummary, "summary.json");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_DOUBLE_EQ(s->final_loss, 0.51);
  EXPECT_DOUBLE_EQ(s->final_eval_loss, 0.6);
  EXPECT_DOUBLE_EQ(s->tokens_per_s, 12345.6);
  EXPECT_EQ(s->world_size, 2);
  EXPECT_EQ(s->steps, 40);
  EXPECT_DOUBLE_EQ(s->peak_rss_mb, 88.5);
  EXPECT_DOUBLE_EQ(s->wall_s, 7.25);
}

TEST(LaunchResults, RejectsAnIncompleteSummary) {
  std::string missing = kSummary;
  missing.replace(missing.find("\"wall_s\""), 8, "\"wall_x\"");
  auto s = ParseSummary(missing, "summary.json");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("wall_s"), std::string::npos);
  EXPECT_FALSE(ParseSummary(std::string(kSummary).substr(0, 40), "s").ok());
  EXPECT_FALSE(ParseSummary("[1,2]", "s").ok());
  EXPECT_FALSE(ReadSummary("/nonexistent/summary.json").ok());
}

TEST(LaunchResults, ReadsMetricsAndAveragesImbalance) {
  const std::string text =
      R"({"step":1,"loss":3.0,"rank_imbalance":1.5,"expert_tokens":[[4,0],[1,3]]})"
      "\n\n"
      R"({"step":10,"loss":2.0,"eval_loss":2.5,"rank_imbalance":1.1,"expert_tokens":[[2,2],[2,2]]})"
      "\n";
  auto m = ParseMetrics(text, "metrics.jsonl");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->size(), 2u);
  EXPECT_EQ((*m)[1].step, 10);
  EXPECT_FALSE((*m)[0].eval_loss.has_value());
  EXPECT_DOUBLE_EQ(*(*m)[1].eval_loss, 2.5);
  ASSERT_EQ((*m)[0].expert_tokens.size(), 2u);
  EXPECT_EQ((*m)[0].expert_tokens[1][1], 3);
  EXPECT_DOUBLE_EQ(*MeanRankImbalance(*m), 1.3);
  EXPECT_FALSE(MeanRankImbalance({}).has_value());

  auto bad = ParseMetrics(text + "{\"step\":20,\"loss\":1", "metrics.jsonl");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("metrics.jsonl:4"), std::string::npos)
      << bad.status().message();
  EXPECT_FALSE(ParseMetrics(R"({"step":1})", "m").ok());  // no loss
}

std::vector<ResultRow> Rows() {
  ResultRow ok;
  ok.name = "policy=static,skew=1.5";
  ok.axis_values = {"static", "1.5"};
  ok.status = PointStatus::kOk;
  ok.summary = *ParseSummary(kSummary, "s");
  ok.rank_imbalance = 1.25;
  ResultRow failed;
  failed.name = "policy=replicate,skew=1.5";
  failed.axis_values = {"replicate", "1.5"};
  failed.status = PointStatus::kFailed;
  failed.failure = "exit code 1, \"boom\"";
  return {ok, failed};
}

TEST(LaunchResults, CsvQuotesAndKeepsColumns) {
  const std::string csv = ResultsCsv({"policy", "skew"}, Rows());
  EXPECT_EQ(csv,
            "point,policy,skew,rep,status,final_loss,eval_loss,tokens_per_s,"
            "rank_imbalance,peak_rss_mb,wall_s,failure\n"
            "\"policy=static,skew=1.5\",static,1.5,0,ok,0.51,0.6,12346,1.25,88.5,7.25,\n"
            "\"policy=replicate,skew=1.5\",replicate,1.5,0,failed,,,,,,,"
            "\"exit code 1, \"\"boom\"\"\"\n");
}

TEST(LaunchResults, MarkdownTable) {
  const std::string md = ResultsMarkdown("sweep", {"policy", "skew"}, Rows());
  EXPECT_NE(md.find("## sweep\n\n| policy | skew | status | final loss |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| static | 1.5 | ok | 0.51 | 0.6 | 12346 | 1.25 | 88.5 | 7.25 |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| replicate | 1.5 | failed |  |"), std::string::npos) << md;
  // Without failures there is no failure column; without axes the point is the key.
  std::vector<ResultRow> one = {Rows()[0]};
  const std::string plain = ResultsMarkdown("t", {}, one);
  EXPECT_EQ(plain.find("failure"), std::string::npos) << plain;
  EXPECT_NE(plain.find("| point | status |"), std::string::npos) << plain;
}

TEST(LaunchPlots, WritesDataAndScript) {
  PlotRequest request;
  request.title = "exp";
  request.axes = {{"np", true}, {"policy", false}};
  for (int np : {1, 2}) {
    for (const char* policy : {"static", "o'brien"}) {
      PlotPoint p;
      p.name = "np=" + std::to_string(np) + ",policy=" + policy;
      p.axis_values = {std::to_string(np), policy};
      p.summary = *ParseSummary(kSummary, "s");
      p.summary->tokens_per_s = 100.0 * np;
      p.metrics = *ParseMetrics(
          R"({"step":1,"loss":3,"rank_imbalance":1.5,"expert_tokens":[[4,0,1]]})"
          "\n"
          R"({"step":5,"loss":2,"rank_imbalance":1.2,"expert_tokens":[[1,2,3]]})",
          "m");
      request.points.push_back(p);
    }
  }
  request.points.back().metrics.clear();  // e.g. a failed point: left out
  request.heatmap_point = 1;
  const PlotSet set = BuildPlots(request);
  EXPECT_EQ(set.pngs,
            (std::vector<std::string>{"loss.png", "imbalance.png",
                                      "tokens_per_s_vs_np.png", "heatmap.png"}));
  ASSERT_FALSE(set.files.empty());
  EXPECT_EQ(set.files.back().name, kPlotScriptName);
  const std::string& script = set.files.back().contents;
  EXPECT_NE(script.find("set terminal png"), std::string::npos);
  EXPECT_NE(script.find("'loss.dat' index 2 using 1:2"), std::string::npos) << script;
  EXPECT_EQ(script.find("'loss.dat' index 3"), std::string::npos) << script;
  EXPECT_NE(script.find("title 'np=1,policy=o''brien'"), std::string::npos) << script;
  const auto find_file = [&](const std::string& name) -> const PlotFile* {
    for (const PlotFile& f : set.files) {
      if (f.name == name) return &f;
    }
    return nullptr;
  };
  // One series per policy, x = np, y = tokens/s.
  const PlotFile* tokens = find_file("tokens_per_s_vs_np.dat");
  ASSERT_NE(tokens, nullptr) << "no tokens_per_s_vs_np.dat";
  EXPECT_NE(tokens->contents.find("# policy=static\n1 100\n2 200\n"), std::string::npos)
      << tokens->contents;
  const PlotFile* heatmap = find_file("heatmap.dat");
  ASSERT_NE(heatmap, nullptr) << "no heatmap.dat";
  EXPECT_NE(heatmap->contents.find("0 0 4\n0 1 0\n0 2 1\n\n1 0 1\n1 1 2\n1 2 3\n"),
            std::string::npos)
      << heatmap->contents;
  EXPECT_NE(script.find("set xtics (\"1\" 0, \"5\" 1)"), std::string::npos) << script;
}

}  // namespace
}  // namespace mpimoe::launch
