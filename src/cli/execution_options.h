// --memory SIZE and --spill-dir DIR: one option, one meaning (he::MemoryBudget), for every
// command that predicts or runs a plan (plan, infer, bench infer, serve).
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "hecnn/io/json.h"

#include <map>
#include <string>

#include "hecnn/he/execution.h"
#include "hecnn/he/pipeline.h"

namespace hecnn::cli {

// `what`: whose budget it is ("The server's", "All workers'"). A bad SIZE (0, garbage) is a
// usage error naming the option.
inline CLI::Option* add_memory_option(CLI::App* cmd, he::MemoryBudget& budget, const std::string& what) {
    return cmd
        ->add_option_function<std::string>(
            "--memory",
            [&budget](const std::string& text) {
                try {
                    budget = he::MemoryBudget::parse(text);
                } catch (const std::invalid_argument& e) {
                    throw CLI::ValidationError("--memory", e.what());
                }
            },
            what + " ciphertext memory budget: SIZE (8G, 512MiB, 1.5GiB, bytes) or 'unlimited'; beyond it ciphertexts spill to disk "
                   "(default: 60 % of MemAvailable when the run starts)")
        ->type_name("SIZE");
}

// `fallback`: where spills go without the option.
inline CLI::Option* add_spill_dir_option(CLI::App* cmd, std::filesystem::path& dir, const std::string& fallback) {
    return cmd->add_option("--spill-dir", dir, "Where ciphertexts beyond the memory budget are spilled (default: " + fallback + ")")
        ->type_name("DIR");
}

// --pools auto|fold|separate (he::PoolSteps): how `plan` and `bench infer` spend levels on
// average pools.
inline CLI::Option* add_pools_option(CLI::App* cmd, he::PoolSteps& pools) {
    static const std::map<std::string, he::PoolSteps> names{{"auto", he::PoolSteps::Auto}, {"fold", he::PoolSteps::Fold}, {"separate", he::PoolSteps::Separate}};
    return cmd->add_option("--pools", pools,
                           "Average pools: 'fold' into the next linear step (fewest levels), 'separate' (a level each, far fewer MACs "
                           "before a conv), or 'auto': whichever the simulator predicts faster, lowering the scale by up to 4 bits to keep the ring")
        ->transform(CLI::CheckedTransformer(names, CLI::ignore_case))
        ->default_str("auto");
}

// In JSON reports: the bytes, or null when unlimited.
using io::budget_json;

}  // namespace hecnn::cli
