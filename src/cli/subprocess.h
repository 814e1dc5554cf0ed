// A child process of this executable (`hecnn serve` for the demo, `hecnn-train` for
// training): started with a pipe on its stdout, read line by line, signalled, reaped.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace hecnn::cli {

class Subprocess {
public:
    // argv[0] is the program path. stdout is piped when capture_stdout, else inherited;
    // stderr is inherited.
    Subprocess(const std::vector<std::string>& argv, bool capture_stdout);
    ~Subprocess();  // SIGKILL + reap if still running
    Subprocess(const Subprocess&) = delete;
    Subprocess& operator=(const Subprocess&) = delete;

    // Next line of the child's stdout (without '\n'); nullopt at EOF or after `timeout`.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout);
    void signal(int sig);
    // Waits for the exit; returns the exit status (128+signal if killed by one).
    int wait();
    pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;
    int out_ = -1;
    std::string buf_;
    bool reaped_ = false;
    int status_ = 0;
};

// The URL a `hecnn serve` child prints once it listens ("… listening on https://host:port …");
// empty if it exits or stays silent for `timeout`.
std::string read_serve_url(Subprocess& serve, std::chrono::milliseconds timeout);

// This executable's own path (/proc/self/exe), and a sibling program next to it.
std::string self_exe();
std::string sibling_exe(const std::string& name);

}  // namespace hecnn::cli
