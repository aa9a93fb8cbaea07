// CentralDifference: the finite-difference derivative that the gradient tests check
// their backward passes against (every op, the MoE layer, the model).
//
// It moves one coordinate to value + step and to value - step, each rounded to the
// coordinate's type, evaluates `loss` at both points (first at + step, then at - step),
// puts the original value back bit for bit, and returns
//   (loss(+) - loss(-)) / ((value + step) - (value - step)),
// where the divisor is the step actually taken (the difference of the two rounded
// values, in double), not the nominal 2 * step: the f32 rounding of the perturbed
// values does not enter the estimate. The truncation error is O(step^2 |f'''|); each
// test states its step and its tolerance next to its assertion.
//
// Thread-safety: calls `loss` on the calling thread; the coordinate belongs to the
// caller for the duration of the call.
#pragma once

#include <functional>

namespace mpimoe::testing {

double CentralDifference(float* value, double step, const std::function<double()>& loss);
double CentralDifference(double* value, double step, const std::function<double()>& loss);

}  // namespace mpimoe::testing
