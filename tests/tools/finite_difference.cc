#include "tests/tools/finite_difference.h"

namespace mpimoe::testing {
namespace {

template <typename T>
double CentralDifferenceOf(T* value, double step, const std::function<double()>& loss) {
  const T saved = *value;
  const T plus = static_cast<T>(static_cast<double>(saved) + step);
  const T minus = static_cast<T>(static_cast<double>(saved) - step);
  *value = plus;
  const double loss_plus = loss();
  *value = minus;
  const double loss_minus = loss();
  *value = saved;
  return (loss_plus - loss_minus) /
         (static_cast<double>(plus) - static_cast<double>(minus));
}

}  // namespace

double CentralDifference(float* value, double step, const std::function<double()>& loss) {
  return CentralDifferenceOf(value, step, loss);
}

double CentralDifference(double* value, double step,
                         const std::function<double()>& loss) {
  return CentralDifferenceOf(value, step, loss);
}

}  // namespace mpimoe::testing
