// grad_sync.cc: see grad_sync.h.
#include "runtime/train/grad_sync.h"

#include <cstring>

#include "parallel/collectives.h"

namespace mpimoe::train {

GradSync::GradSync(parallel::Communicator* comm, std::vector<Parameter*> params,
                   int64_t bucket_bytes)
    : comm_(comm), params_(std::move(params)) {
  const int64_t bucket_elements = std::max<int64_t>(1, bucket_bytes / 4);
  size_t i = 0;
  while (i < params_.size()) {
    Bucket bucket;
    bucket.first_param = i;
    int64_t elements = 0;
    do {
      elements += params_[i]->grad.numel();
      const bool fresh = index_of_.emplace(params_[i], i).second;
      bucket_of_param_.push_back(buckets_.size());
      MPIMOE_CHECK_MSG(
          fresh, ("GradSync: parameter " + params_[i]->name + " listed twice").c_str());
      ++i;
    } while (i < params_.size() &&
             elements + params_[i]->grad.numel() <= bucket_elements);
    bucket.end_param = i;
    bucket.buffer = Tensor(DType::kF32, {elements});
    total_elements_ += elements;
    buckets_.push_back(std::move(bucket));
  }
  requests_.resize(buckets_.size());
  BeginStep();
}

void GradSync::BeginStep() {
  for (Bucket& bucket : buckets_) {
    bucket.waiting = static_cast<int64_t>(bucket.end_param - bucket.first_param);
  }
  ready_.assign(params_.size(), false);
  next_to_start_ = 0;
  started_early_ = 0;
}

Status GradSync::Start(size_t b) {
  Bucket& bucket = buckets_[b];
  float* at = bucket.buffer.data<float>();
  for (size_t p = bucket.first_param; p < bucket.end_param; ++p) {
    const Tensor& grad = params_[p]->grad;
    std::memcpy(at, grad.data<float>(), static_cast<size_t>(grad.size_bytes()));
    at += grad.numel();
  }
  TraceSpan start_span(trace_, "allreduce_start", "bytes", bucket.buffer.size_bytes());
  return parallel::StartAllreduceInPlace(
      *comm_,
      std::span<float>(bucket.buffer.data<float>(),
                       static_cast<size_t>(bucket.buffer.numel())),
      &requests_[b]);
}

Status GradSync::Ready(std::span<Parameter* const> params) {
  if (comm_->size() == 1) return Status::Ok();
  for (const Parameter* p : params) {
    const auto it = index_of_.find(p);
    if (it == index_of_.end()) continue;
    // Reported twice: its bucket could be summed before its gradients are final.
    MPIMOE_CHECK_MSG(
        !ready_[it->second],
        ("GradSync: parameter " + p->name + " reported ready twice").c_str());
    ready_[it->second] = true;
    --buckets_[bucket_of_param_[it->second]].waiting;
  }
  while (next_to_start_ < buckets_.size() && buckets_[next_to_start_].waiting == 0) {
    MPIMOE_RETURN_IF_ERROR(Start(next_to_start_));
    ++next_to_start_;
    ++started_early_;
  }
  return Status::Ok();
}

Status GradSync::Finish() {
  if (comm_->size() == 1) return Status::Ok();
  for (; next_to_start_ < buckets_.size(); ++next_to_start_) {
    MPIMOE_RETURN_IF_ERROR(Start(next_to_start_));
  }
  Status status = Status::Ok();
  for (size_t b = 0; b < buckets_.size(); ++b) {
    TraceSpan wait_span(trace_, "allreduce_wait", "bytes",
                        buckets_[b].buffer.size_bytes());
    Status wait = requests_[b].Wait();
    wait_span.End();
    if (!wait.ok() && status.ok()) status = wait.WithContext("gradient all-reduce");
    const float* at = buckets_[b].buffer.data<float>();
    for (size_t p = buckets_[b].first_param; p < buckets_[b].end_param; ++p) {
      Tensor& grad = params_[p]->grad;
      std::memcpy(grad.data<float>(), at, static_cast<size_t>(grad.size_bytes()));
      at += grad.numel();
    }
  }
  return status;
}

void GradSync::Abandon() {
  for (size_t b = 0; b < next_to_start_; ++b) {
    if (!requests_[b].pending()) continue;
    requests_[b].Abandon();
    const int64_t elements = buckets_[b].buffer.numel();
    new Tensor(std::move(buckets_[b].buffer));  // leaked on purpose: MPI may write it
    buckets_[b].buffer = Tensor(DType::kF32, {elements});
  }
  BeginStep();
}

GradSync::~GradSync() { Abandon(); }

void GradSync::Drain() {
  for (size_t b = 0; b < next_to_start_; ++b) requests_[b].Wait().IgnoreError();
  BeginStep();
}

Status GradSync::AllReduce() {
  BeginStep();
  return Finish();
}

}  // namespace mpimoe::train
