#include "subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace hecnn::cli {

Subprocess::Subprocess(const std::vector<std::string>& argv, bool capture_stdout) {
    if (argv.empty()) throw std::invalid_argument("Subprocess: empty argv");
    int fds[2] = {-1, -1};
    if (capture_stdout && pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid_ == 0) {
        // Child: the signal mask and dispositions of the parent must not leak in.
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        if (capture_stdout) dup2(fds[1], STDOUT_FILENO);
        execv(args[0], args.data());
        const char* msg = "hecnn: cannot execute the child process\n";
        (void)!write(STDERR_FILENO, msg, std::strlen(msg));
        _exit(127);
    }
    if (capture_stdout) {
        close(fds[1]);
        out_ = fds[0];
    }
}

Subprocess::~Subprocess() {
    if (!reaped_ && pid_ > 0) {
        kill(pid_, SIGKILL);
        wait();
    }
    if (out_ >= 0) close(out_);
}

std::optional<std::string> Subprocess::read_line(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto nl = buf_.find('\n');
        if (nl != std::string::npos) {
            std::string line = buf_.substr(0, nl);
            buf_.erase(0, nl + 1);
            return line;
        }
        if (out_ < 0) return std::nullopt;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) return std::nullopt;
        pollfd p{out_, POLLIN, 0};
        const int r = poll(&p, 1, static_cast<int>(left));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return std::nullopt;
        char tmp[4096];
        const ssize_t n = read(out_, tmp, sizeof tmp);
        if (n <= 0) {
            close(out_);
            out_ = -1;
            continue;
        }
        buf_.append(tmp, static_cast<std::size_t>(n));
    }
}

void Subprocess::signal(int sig) {
    if (!reaped_ && pid_ > 0) kill(pid_, sig);
}

int Subprocess::wait() {
    if (reaped_) return status_;
    int st = 0;
    while (waitpid(pid_, &st, 0) < 0)
        if (errno != EINTR) throw std::runtime_error(std::string("waitpid: ") + std::strerror(errno));
    reaped_ = true;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return status_;
}

std::string read_serve_url(Subprocess& serve, std::chrono::milliseconds timeout) {
    const std::string key = "listening on ";
    while (auto line = serve.read_line(timeout))
        if (const auto p = line->find(key); p != std::string::npos) {
            const std::string rest = line->substr(p + key.size());
            return rest.substr(0, rest.find(' '));  // the URL, without what follows it
        }
    return {};
}

std::string self_exe() {
    std::error_code ec;
    const auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) throw std::runtime_error("cannot locate the hecnn executable: " + ec.message());
    return p.string();
}

std::string sibling_exe(const std::string& name) { return (std::filesystem::path(self_exe()).parent_path() / name).string(); }

}  // namespace hecnn::cli
