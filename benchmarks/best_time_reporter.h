// Google Benchmark reporter: console output as usual, and the best (lowest) real time of
// every benchmark kept by name, in nanoseconds, for the scalar-vs-vector tables that the
// micro-benchmarks print in their Finalize().
#pragma once

#include <benchmark/benchmark.h>

#include <map>
#include <string>
#include <vector>

namespace hecnn::bench {

class BestTimeReporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& run : runs) {
            if (run.run_type != Run::RT_Iteration || run.error_occurred) continue;
            const double ns = run.GetAdjustedRealTime() * benchmark::GetTimeUnitMultiplier(benchmark::kNanosecond) /
                              benchmark::GetTimeUnitMultiplier(run.time_unit);
            auto [it, inserted] = best_ns_.emplace(run.run_name.function_name, ns);
            if (!inserted && ns < it->second) it->second = ns;
        }
    }

protected:
    std::map<std::string, double> best_ns_;  // benchmark name → best ns
};

}  // namespace hecnn::bench
