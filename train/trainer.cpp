// The training loop: data → tensors, optional teacher (initial weights, distillation
// targets), gradual ReLU → polynomial switch, Nesterov SGD with separate L2 on the
// polynomial coefficients, clipping, divergence detection, checkpoints, ONNX export and
// the torch ↔ reference-runner round trip.
#include "trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>

#include "hecnn/io/onnx.h"
#include "hecnn/nn/reference.h"
#include "net.h"

namespace hecnn::train {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string human_s(double s) {
    char b[32];
    if (s < 120) std::snprintf(b, sizeof b, "%.1f s", s);
    else if (s < 7200) std::snprintf(b, sizeof b, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
    else std::snprintf(b, sizeof b, "%.1f h", s / 3600);
    return b;
}

torch::Tensor to_tensor(const io::Dataset& d, const nn::Preprocessing& p) {
    auto t = torch::empty({static_cast<int64_t>(d.size()), d.channels, d.height, d.width}, torch::kFloat);
    float* ptr = t.data_ptr<float>();
    const size_t s = static_cast<size_t>(d.sample_size());
    for (size_t i = 0; i < d.size(); ++i) io::to_input(d, i, p, std::span<float>(ptr + i * s, s));
    return t;
}

torch::Tensor to_labels(const io::Dataset& d) {
    return torch::from_blob(const_cast<int32_t*>(d.labels.data()), {static_cast<int64_t>(d.size())}, torch::kInt).to(torch::kLong);
}

double accuracy(const torch::Tensor& logits, const torch::Tensor& y) {
    if (y.size(0) == 0) return -1;
    return 100.0 * logits.argmax(1).eq(y).sum().item<double>() / static_cast<double>(y.size(0));
}

std::string stem_of(const std::string& out) {
    for (const char* ext : {".onnx", ".pt"}) {
        const std::string e = ext;
        if (out.size() > e.size() && out.compare(out.size() - e.size(), e.size(), e) == 0) return out.substr(0, out.size() - e.size());
    }
    return out;
}

class Progress {
public:
    Progress(bool enabled, int epoch, int epochs, int64_t steps) : on_(enabled), tty_(isatty(2)), epoch_(epoch), epochs_(epochs), steps_(steps) {}

    void update(int64_t step, double loss, double acc) {
        if (!on_) return;
        const double el = seconds_since(start_);
        const bool last = step == steps_;
        if (tty_) {
            if (!last && el - shown_ < 0.2) return;
        } else {
            // Logs: a line at every quarter of the epoch.
            if (!last && step * 4 / steps_ == last_quarter_) return;
            last_quarter_ = step * 4 / steps_;
        }
        shown_ = el;
        const int width = 24, fill = static_cast<int>(width * step / steps_);
        std::string bar(fill, '#');
        bar += std::string(width - fill, '.');
        const double left = step > 0 ? el / step * (steps_ - step) : 0;
        std::fprintf(stderr, "%sepoch %d/%d [%s] %lld/%lld  loss %.4f  acc %.2f %%  %s elapsed, ~%s left%s", tty_ ? "\r" : "", epoch_, epochs_, bar.c_str(),
                     static_cast<long long>(step), static_cast<long long>(steps_), loss, acc, human_s(el).c_str(), human_s(left).c_str(),
                     tty_ ? "\033[K" : "\n");
        if (tty_ && last) std::fprintf(stderr, "\n");
        std::fflush(stderr);
    }

private:
    bool on_, tty_;
    int epoch_, epochs_;
    int64_t steps_, last_quarter_ = 0;
    double shown_ = -1;
    Clock::time_point start_ = Clock::now();
};

[[noreturn]] void diverged(const TrainOptions& o, int epoch, int64_t step, const std::string& what) {
    char b[1024];
    std::snprintf(b, sizeof b,
                  "training diverged at epoch %d, batch %lld: %s. Nothing was exported. What to change: lower the learning rate "
                  "(--lr %g now; try %g), keep gradient clipping on (--clip %g now; try 1), standardise the inputs (--standardize, "
                  "now %s), start from a ReLU teacher's weights with fitted coefficients (--init TEACHER.pt --poly-init fit) and "
                  "switch gradually (--ramp-epochs 1), or raise --poly-weight-decay (now %g).",
                  epoch, static_cast<long long>(step), what.c_str(), o.lr, o.lr / 3, o.clip, o.standardize ? "on" : "off", o.poly_weight_decay);
    throw Diverged(b);
}

void set_threads(int threads) {
    torch::set_num_threads(std::max(1, threads));
    static bool interop_set = false;
    if (!interop_set) {
        try {
            torch::set_num_interop_threads(1);
        } catch (...) {
        }
        interop_set = true;
    }
}

// Re-estimates batch-norm running statistics with the final weights: a forward pass in
// training mode over `images` training images, cumulative average (momentum off). With
// polynomial activations a few heavy-tailed batches can skew the exponential running
// averages enough to wreck evaluation-mode accuracy (seen: SqueezeNet, train 90 %,
// evaluation 55 %); the exported model must carry statistics of the final network.
void recalibrate_batchnorm(Net& net, const torch::Tensor& X, int64_t images, int64_t batch) {
    std::vector<std::shared_ptr<torch::nn::BatchNorm2dImpl>> bns;
    for (const auto& m : net->modules(false))
        if (auto bn = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(m)) bns.push_back(bn);
    if (bns.empty() || images <= 0) return;
    std::vector<c10::optional<double>> momentum;
    for (auto& bn : bns) {
        momentum.push_back(bn->options.momentum());
        bn->reset_running_stats();
        bn->options.momentum(c10::nullopt);
    }
    torch::NoGradGuard ng;
    const bool was_training = net->is_training();
    net->train();
    const int64_t n = std::min(images, X.size(0));
    for (int64_t i = 0; i < n; i += batch) net->forward(X.slice(0, i, std::min(i + batch, n)));
    for (size_t k = 0; k < bns.size(); ++k) bns[k]->options.momentum(momentum[k]);
    if (!was_training) net->eval();
}

}  // namespace

std::string describe(const TrainOptions& o) {
    io::LoadOptions lo;
    lo.need_train = false;
    lo.limit = 1;
    lo.folder = o.folder;
    auto s = io::load_dataset(o.dataset, lo);
    const auto& d = s.test.size() ? s.test : s.train;
    const int64_t classes = static_cast<int64_t>(d.classes.size());
    auto arch = nn::make_arch(o.arch, {d.channels, d.height, d.width}, classes);
    std::string out;
    for (auto g : {nn::Granularity::Layer, nn::Granularity::Channel, nn::Granularity::Element}) out += nn::describe_table(arch, g) + "\n";
    return out;
}

TrainResult run_training(const TrainOptions& o) {
    if (o.epochs < 1 || o.batch < 1) throw std::invalid_argument("--epochs and --batch must be at least 1");
    if (!(o.temperature > 0) || o.alpha < 0 || o.alpha > 1) throw std::invalid_argument("--temperature must be > 0 and --alpha in [0,1]");
    set_threads(o.threads);
    torch::manual_seed(o.seed);
    const auto act = parse_activation(o.activation);
    const auto gran = nn::parse_granularity(o.granularity);
    const auto t_start = Clock::now();

    // ---- data
    io::LoadOptions lo;
    lo.val_fraction = o.val_fraction;
    lo.seed = o.seed;
    lo.limit = o.limit;
    lo.folder = o.folder;
    lo.folder.seed = o.seed;
    io::Split data = io::load_dataset(o.dataset, lo);
    if (data.train.size() == 0) throw std::runtime_error("the training split is empty");
    const nn::Shape input{data.train.channels, data.train.height, data.train.width};
    const int64_t classes = static_cast<int64_t>(data.train.classes.size());

    // ---- preprocessing: the --init model's (its weights expect it), else from the data
    nn::Preprocessing prep;
    prep.classes = data.train.classes;
    Net net(nn::make_arch(o.arch, input, classes), act, gran);
    CheckpointInfo init_info;
    if (!o.init.empty()) {
        Net from = load_checkpoint(o.init, init_info);
        if (init_info.arch != o.arch || init_info.input != input || init_info.classes != classes)
            throw std::runtime_error("--init " + o.init + " is a " + init_info.arch + " for " + nn::to_string(init_info.input) + " inputs and " +
                                     std::to_string(init_info.classes) + " classes; this run trains a " + o.arch + " for " + nn::to_string(input) +
                                     " and " + std::to_string(classes));
        const int copied = net->copy_matching(*from);
        prep.mean = init_info.preprocessing.mean, prep.std = init_info.preprocessing.std, prep.scale = init_info.preprocessing.scale;
        std::fprintf(stderr, "init: %d tensors from %s (%s, epoch %d)\n", copied, o.init.c_str(), activation_name(init_info.act), init_info.epoch);
    } else if (o.standardize) {
        io::channel_statistics(data.train, prep.scale, prep.mean, prep.std);
    }
    auto X = to_tensor(data.train, prep), Y = to_labels(data.train);
    auto Xv = to_tensor(data.val, prep), Yv = to_labels(data.val);
    auto Xt = to_tensor(data.test, prep), Yt = to_labels(data.test);

    // ---- teacher: its logits on the training set, computed once (no augmentation on the fly)
    torch::Tensor teacher_logits;
    double teacher_test = -1;
    if (!o.teacher.empty() && o.alpha > 0) {
        CheckpointInfo ti;
        Net teacher = load_checkpoint(o.teacher, ti);
        if (ti.input != input || ti.classes != classes) throw std::runtime_error("--teacher " + o.teacher + " was trained for other inputs or classes");
        auto tp = prep;
        tp.mean = ti.preprocessing.mean, tp.std = ti.preprocessing.std, tp.scale = ti.preprocessing.scale;
        auto t0 = Clock::now();
        teacher_logits = predict(teacher, to_tensor(data.train, tp));
        teacher_test = accuracy(predict(teacher, to_tensor(data.test, tp)), Yt);
        std::fprintf(stderr, "teacher: %s (%s %s), test accuracy %.2f %%, training-set logits in %s\n", o.teacher.c_str(), ti.arch.c_str(),
                     activation_name(ti.act), teacher_test, human_s(seconds_since(t0)).c_str());
    } else if (!o.teacher.empty()) {
        std::fprintf(stderr, "note: --alpha 0: the teacher is not used\n");
    }

    // ---- polynomial coefficients
    auto acts = net->activations();
    const std::string pinit = o.poly_init == "auto" ? (o.init.empty() ? "fixed" : "fit") : o.poly_init;
    if (act == Activation::Poly) {
        if (pinit == "fit") {
            if (o.init.empty()) std::fprintf(stderr, "note: --poly-init fit without --init fits ReLU on a randomly initialised network\n");
            std::vector<int64_t> idx(static_cast<size_t>(X.size(0)));
            std::iota(idx.begin(), idx.end(), 0);
            std::shuffle(idx.begin(), idx.end(), std::mt19937_64(o.seed));
            idx.resize(static_cast<size_t>(std::min<int64_t>(o.fit_images, X.size(0))));
            fit_relu_coefficients(net, X.index_select(0, torch::tensor(idx)), 256);
        } else if (pinit == "fixed") {
            if (o.poly_coeffs.size() != 3) throw std::invalid_argument("--poly-coeffs needs three values a,b,c");
            torch::NoGradGuard ng;
            for (auto& a : acts) a->a.fill_(o.poly_coeffs[0]), a->b.fill_(o.poly_coeffs[1]), a->c.fill_(o.poly_coeffs[2]);
        } else {
            throw std::invalid_argument("--poly-init must be fit, fixed or auto");
        }
    }

    // ---- optimiser: Nesterov SGD; L2 on the coefficients with its own strength (the BEAA paper, eq. 12)
    std::vector<torch::Tensor> coeffs, weights;
    for (auto& p : net->named_parameters(true)) {
        const auto& k = p.key();
        const bool is_coeff = k.size() > 2 && (k.ends_with(".a") || k.ends_with(".b") || k.ends_with(".c"));
        (is_coeff ? coeffs : weights).push_back(p.value());
    }
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(weights, std::make_unique<torch::optim::SGDOptions>(
                                     torch::optim::SGDOptions(o.lr).momentum(o.momentum).nesterov(true).weight_decay(o.weight_decay)));
    if (!coeffs.empty())
        groups.emplace_back(coeffs, std::make_unique<torch::optim::SGDOptions>(
                                        torch::optim::SGDOptions(o.lr).momentum(o.momentum).nesterov(true).weight_decay(o.poly_weight_decay)));
    torch::optim::SGD opt(groups, torch::optim::SGDOptions(o.lr).momentum(o.momentum).nesterov(true));

    // ---- gradual switch ReLU → polynomial, one layer after the other
    const int64_t n = X.size(0), steps = (n + o.batch - 1) / o.batch, total_steps = steps * o.epochs;
    int ramp_epochs = o.ramp_epochs >= 0 ? o.ramp_epochs : (o.init.empty() ? 0 : 1);
    if (act != Activation::Poly) ramp_epochs = 0;
    ramp_epochs = std::min(ramp_epochs, o.epochs);
    std::vector<size_t> order(acts.size());
    std::iota(order.begin(), order.end(), 0);
    if (o.ramp_order == "last") std::reverse(order.begin(), order.end());
    else if (o.ramp_order != "first") throw std::invalid_argument("--ramp-order must be first or last");
    auto set_ratios = [&](int64_t step) {
        if (ramp_epochs == 0) {
            for (auto& a : acts) a->ratio = 1.0;
            return;
        }
        const double seg = static_cast<double>(ramp_epochs * steps) / static_cast<double>(acts.size());
        for (size_t k = 0; k < order.size(); ++k) acts[order[k]]->ratio = std::clamp((static_cast<double>(step) - k * seg) / seg, 0.0, 1.0);
    };

    std::fprintf(stderr, "train: %s, %s-wise %s, %lld training / %lld validation / %lld test images, %d epochs of %lld batches of %lld, %d thread(s)%s\n",
                 o.arch.c_str(), nn::granularity_name(gran), activation_name(act), static_cast<long long>(n), static_cast<long long>(Xv.size(0)),
                 static_cast<long long>(Xt.size(0)), o.epochs, static_cast<long long>(steps), static_cast<long long>(o.batch), o.threads,
                 teacher_logits.defined() ? (", distillation T=" + std::to_string(o.temperature) + " alpha=" + std::to_string(o.alpha)).c_str() : "");

    const std::string stem = stem_of(o.output);
    TrainResult res;
    double train_seconds = 0;
    int64_t step = 0;
    for (int epoch = 1; epoch <= o.epochs; ++epoch) {
        net->train();
        std::vector<int64_t> perm(static_cast<size_t>(n));
        std::iota(perm.begin(), perm.end(), 0);
        std::shuffle(perm.begin(), perm.end(), std::mt19937_64(o.seed * 1000003 + static_cast<uint64_t>(epoch)));
        auto perm_t = torch::tensor(perm);
        Progress bar(o.progress, epoch, o.epochs, steps);
        double loss_sum = 0;
        int64_t correct = 0, seen = 0;
        const auto t_epoch = Clock::now();
        for (int64_t b = 0; b < steps; ++b, ++step) {
            set_ratios(step);
            if (o.schedule == "cosine") {
                const double lr = 0.5 * o.lr * (1 + std::cos(M_PI * static_cast<double>(step) / static_cast<double>(total_steps)));
                for (auto& g : opt.param_groups()) static_cast<torch::optim::SGDOptions&>(g.options()).lr(lr);
            }
            auto idx = perm_t.slice(0, b * o.batch, std::min((b + 1) * o.batch, n));
            auto x = X.index_select(0, idx), y = Y.index_select(0, idx);
            opt.zero_grad();
            auto logits = net->forward(x);
            auto loss = teacher_logits.defined() ? kd_loss(logits, teacher_logits.index_select(0, idx), y, o.temperature, o.alpha)
                                                 : torch::nn::functional::cross_entropy(logits, y);
            const double lv = loss.item<double>();
            if (!std::isfinite(lv) || lv > 1e4) diverged(o, epoch, b + 1, "the loss is " + std::to_string(lv));
            loss.backward();
            if (o.clip > 0) torch::nn::utils::clip_grad_norm_(net->parameters(), o.clip);
            opt.step();
            loss_sum += lv * static_cast<double>(y.size(0));
            correct += logits.argmax(1).eq(y).sum().item<int64_t>();
            seen += y.size(0);
            bar.update(b + 1, loss_sum / seen, 100.0 * correct / seen);
        }
        train_seconds += seconds_since(t_epoch);
        for (const auto& p : net->parameters())
            if (!torch::isfinite(p).all().item<bool>()) diverged(o, epoch, steps, "a weight became NaN or infinite");
        res.train_accuracy = 100.0 * correct / seen;
        recalibrate_batchnorm(net, X, o.bn_recalibrate_images, std::max<int64_t>(o.batch, 128));
        res.val_accuracy = Xv.size(0) ? accuracy(predict(net, Xv), Yv) : -1;
        res.test_accuracy = accuracy(predict(net, Xt), Yt);
        std::string ck;
        if (o.checkpoints) {
            ck = stem + ".epoch" + std::to_string(epoch) + ".pt";
            save_checkpoint(net, {o.arch, input, classes, act, gran, prep, epoch}, ck);
        }
        std::printf("epoch %d/%d  loss %.4f  train %.2f %%  val %s  test %.2f %%  %s%s%s\n", epoch, o.epochs, loss_sum / seen, res.train_accuracy,
                    res.val_accuracy >= 0 ? (std::to_string(res.val_accuracy).substr(0, 5) + " %").c_str() : "-", res.test_accuracy,
                    human_s(seconds_since(t_epoch)).c_str(), ck.empty() ? "" : "  checkpoint ", ck.c_str());
        std::fflush(stdout);
    }
    set_ratios(total_steps);
    res.seconds_per_epoch = train_seconds / o.epochs;

    // ---- outputs
    res.checkpoint_path = stem + ".pt";
    save_checkpoint(net, {o.arch, input, classes, act, gran, prep, o.epochs}, res.checkpoint_path);
    if (act == Activation::Poly) {
        nn::Model m = net->to_model();
        m.preprocessing = prep;
        m.metadata["hecnn.architecture"] = o.arch;
        m.metadata["hecnn.activation"] = "poly";
        m.metadata["hecnn.granularity"] = nn::granularity_name(gran);
        m.metadata["hecnn.activation_pattern"] = "y = a*(x*x) + b*x + c as Mul(x,x), Mul(.,a), Mul(x,b), Add, Add(.,c)";
        res.onnx_path = stem + ".onnx";
        io::save_onnx(m, res.onnx_path);
        // Round trip: the file as the encrypted runtime will read it vs torch.
        nn::Model back = io::load_onnx(res.onnx_path);
        nn::ReferenceRunner runner(back);
        const int64_t k = std::min<int64_t>(o.roundtrip_images, Xt.size(0));
        auto tl = predict(net, Xt.slice(0, 0, k)).to(torch::kDouble).contiguous();
        auto xin = Xt.slice(0, 0, k).to(torch::kDouble).contiguous();
        const int64_t in = xin.numel() / std::max<int64_t>(k, 1);
        double maxd = 0;
        int64_t ok_ref = 0, ok_torch = 0;
        for (int64_t i = 0; i < k; ++i) {
            auto out = runner.run(std::span<const double>(xin.data_ptr<double>() + i * in, static_cast<size_t>(in)));
            const double* t = tl.data_ptr<double>() + i * classes;
            for (int64_t c = 0; c < classes; ++c) maxd = std::max(maxd, std::abs(out[c] - t[c]));
            ok_ref += std::max_element(out.begin(), out.end()) - out.begin() == Yt[i].item<int64_t>();
            ok_torch += std::max_element(t, t + classes) - t == Yt[i].item<int64_t>();
        }
        res.roundtrip_max_abs_diff = maxd;
        res.reference_accuracy = k ? 100.0 * ok_ref / k : -1;
        res.torch_accuracy_roundtrip = k ? 100.0 * ok_torch / k : -1;
        std::printf("export  %s (ONNX checker passed); round trip on %lld test images: max |torch − reference runner| = %.3g, accuracy %.2f %% (torch %.2f %%)\n",
                    res.onnx_path.c_str(), static_cast<long long>(k), maxd, res.reference_accuracy, res.torch_accuracy_roundtrip);
    }
    std::printf("result  %s %s %s: test accuracy %.2f %%%s, %s per epoch (training loop), total %s; checkpoint %s\n", o.arch.c_str(),
                act == Activation::Poly ? nn::granularity_name(gran) : "", activation_name(act), res.test_accuracy,
                res.val_accuracy >= 0 ? (", validation " + std::to_string(res.val_accuracy).substr(0, 5) + " %").c_str() : "",
                human_s(res.seconds_per_epoch).c_str(), human_s(seconds_since(t_start)).c_str(), res.checkpoint_path.c_str());
    std::fflush(stdout);
    return res;
}

}  // namespace hecnn::train
