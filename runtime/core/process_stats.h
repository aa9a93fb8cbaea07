// Facts about this process for reports: peak resident memory.
//
// Thread-safety: may be called from any thread.
#pragma once

namespace mpimoe {

// Peak resident set size of this process in MiB (getrusage), 0 if unavailable.
double PeakRssMb();

}  // namespace mpimoe
