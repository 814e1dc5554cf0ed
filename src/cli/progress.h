// A progress bar on stderr for long work: redrawn in place on a terminal (at most 5 times
// a second), a line per quarter in logs. Shows done/total, elapsed and remaining time.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "format.h"

namespace hecnn::cli {

class ProgressBar {
public:
    ProgressBar(std::string label, std::size_t total, std::string unit = "")
        : label_(std::move(label)), unit_(std::move(unit)), total_(total ? total : 1), tty_(isatty(STDERR_FILENO)) {}

    // remaining_seconds < 0: extrapolated from the rate so far.
    void update(std::size_t done, const std::string& extra = "", double remaining_seconds = -1) {
        const double el = elapsed();
        const bool last = done >= total_;
        if (tty_) {
            if (!last && el - shown_ < 0.2) return;
        } else if (!last && done * 4 / total_ == quarter_) {
            return;
        }
        quarter_ = done * 4 / total_;
        shown_ = el;
        const int width = 24;
        const int fill = static_cast<int>(width * std::min(done, total_) / total_);
        const double left = remaining_seconds >= 0 ? remaining_seconds : done ? el / static_cast<double>(done) * static_cast<double>(total_ - std::min(done, total_)) : 0;
        std::fprintf(stderr, "%s%s [%s%s] %zu/%zu%s%s  %s elapsed, ~%s left%s%s", tty_ ? "\r" : "", label_.c_str(), std::string(fill, '#').c_str(),
                     std::string(width - fill, '.').c_str(), done, total_, unit_.empty() ? "" : " ", unit_.c_str(), human_ms(el * 1e3).c_str(),
                     human_ms(left * 1e3).c_str(), extra.empty() ? "" : ("  " + extra).c_str(), tty_ ? "\033[K" : "\n");
        if (tty_ && last) std::fprintf(stderr, "\n");
        std::fflush(stderr);
    }
    double elapsed() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

private:
    std::string label_, unit_;
    std::size_t total_;
    bool tty_;
    std::size_t quarter_ = 0;
    double shown_ = -1;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace hecnn::cli
