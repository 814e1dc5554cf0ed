// hecnn-train: the only executable linked to libtorch. `hecnn train ARGS` execs it with
// ARGS. This file does not include torch headers (they cost ~25 s per translation unit).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "trainer.h"

int main(int argc, char** argv) {
    // OpenBLAS sizes its thread pool when it is loaded, before main: re-exec once with
    // OPENBLAS_NUM_THREADS set if the caller did not set it (torch's own threads are set
    // with --threads).
    if (!std::getenv("OPENBLAS_NUM_THREADS")) {
        setenv("OPENBLAS_NUM_THREADS", "1", 1);
        execv("/proc/self/exe", argv);
    }
    hecnn::train::TrainOptions o;
    bool describe = false;
    CLI::App app{"hecnn train: HE-friendly training (polynomial activations, knowledge distillation, ONNX export)", "hecnn train"};
    app.add_option("--dataset", o.dataset, "fashion-mnist [DIR] | cifar10 DIR | folder DIR")->expected(1, 2)->capture_default_str();
    app.add_option("--arch", o.arch, "cnn (CryptoNets-scale, as the SEAL baseline of docs/BASELINES.md) | squeezenet (the BEAA paper's; 3x32x32 or 1x28x28)")
        ->check(CLI::IsMember({"cnn", "squeezenet"}))->capture_default_str();
    app.add_option("--activation", o.activation, "relu (teacher) | poly (a·x² + b·x + c)")->check(CLI::IsMember({"relu", "poly"}))->capture_default_str();
    app.add_option("--granularity", o.granularity, "Polynomial coefficients per layer, channel or element")
        ->check(CLI::IsMember({"layer", "channel", "element"}))->capture_default_str();
    app.add_option("-o,--output", o.output, "Output: OUTPUT.onnx (poly) and OUTPUT.pt (checkpoint; teachers and --init read it)")->capture_default_str();
    auto* g = "Methodology (ReLU teacher → HE-friendly student) and distillation";
    app.add_option("--init", o.init, "Start from this checkpoint's weights (the ReLU teacher of the same architecture)")->group(g)->check(CLI::ExistingFile);
    app.add_option("--teacher", o.teacher, "Distil from this checkpoint (any architecture, same data)")->group(g)->check(CLI::ExistingFile);
    app.add_option("--temperature,-T", o.temperature, "Distillation temperature T")->group(g)->capture_default_str();
    app.add_option("--alpha", o.alpha, "Distillation weight α: α·T²·KL(teacher‖student) + (1−α)·CE")->group(g)->check(CLI::Range(0.0, 1.0))->capture_default_str();
    app.add_option("--ramp-epochs", o.ramp_epochs, "Epochs of the gradual switch r·poly + (1−r)·ReLU, layer by layer (−1: 1 with --init, else 0)")->group(g)->capture_default_str();
    app.add_option("--ramp-order", o.ramp_order, "Which activation layer switches first")->group(g)->check(CLI::IsMember({"first", "last"}))->capture_default_str();
    app.add_option("--poly-init", o.poly_init, "fit: least squares of ReLU on the pre-activations seen by the --init network; fixed: --poly-coeffs; auto: fit with --init, else fixed")
        ->group(g)->check(CLI::IsMember({"auto", "fit", "fixed"}))->capture_default_str();
    app.add_option("--poly-coeffs", o.poly_coeffs, "a b c for --poly-init fixed")->group(g)->expected(3)->capture_default_str();
    app.add_option("--fit-images", o.fit_images, "Training images whose pre-activations --poly-init fit uses")->group(g)->capture_default_str();
    app.add_option("--clip", o.clip, "Clip the gradient norm to this (0: off)")->group(g)->capture_default_str();
    app.add_flag("--standardize,!--no-standardize", o.standardize, "Standardise inputs with the training set's mean and std")->group(g)->capture_default_str();
    auto* s = "Optimiser";
    app.add_option("--lr", o.lr, "Learning rate (Nesterov SGD)")->group(s)->capture_default_str();
    app.add_option("--momentum", o.momentum, "Momentum")->group(s)->capture_default_str();
    app.add_option("--weight-decay", o.weight_decay, "L2 on weights")->group(s)->capture_default_str();
    app.add_option("--poly-weight-decay", o.poly_weight_decay, "L2 on the polynomial coefficients (the BEAA paper, eq. 12)")->group(s)->capture_default_str();
    app.add_option("--schedule", o.schedule, "Learning-rate schedule")->group(s)->check(CLI::IsMember({"cosine", "constant"}))->capture_default_str();
    app.add_option("--epochs", o.epochs, "Epochs")->group(s)->check(CLI::Range(1, 100000))->capture_default_str();
    app.add_option("--batch", o.batch, "Batch size")->group(s)->check(CLI::Range(1, 65536))->capture_default_str();
    app.add_option("--seed", o.seed, "Seed (weights, shuffling, splits): a run is deterministic for a seed at --threads 1")->group(s)->capture_default_str();
    app.add_option("--threads", o.threads, "Torch threads")->group(s)->check(CLI::Range(1, 256))->capture_default_str();
    auto* d = "Data";
    app.add_option("--val-fraction", o.val_fraction, "Hold out this stratified fraction of the training set for validation (fashion-mnist, cifar10)")
        ->group(d)->check(CLI::Range(0.0, 0.9))->capture_default_str();
    app.add_option("--limit", o.limit, "Cap every split at this many images (stratified; 0: all)")->group(d)->capture_default_str();
    app.add_option("--image-size", o.folder.size, "Image folders: resize to SIZE×SIZE (OCTID: 32)")->group(d)->capture_default_str();
    app.add_option("--augment", o.folder.augment, "Image folders: augmented copies per training image (rotation, scale, shift)")->group(d)->capture_default_str();
    app.add_option("--rotate", o.folder.rotate_degrees, "Image folders: augmentation rotation range (± degrees)")->group(d)->capture_default_str();
    app.add_option("--scale-range", o.folder.scale, "Image folders: augmentation scale range (±)")->group(d)->capture_default_str();
    app.add_option("--shift", o.folder.shift, "Image folders: augmentation shift/crop range (± fraction of the size)")->group(d)->capture_default_str();
    app.add_option("--bn-recalibrate", o.bn_recalibrate_images, "Re-estimate batch-norm statistics on this many training images after each epoch (0: off)")
        ->group(s)->capture_default_str();
    app.add_option("--roundtrip-images", o.roundtrip_images, "Test images for the torch ↔ reference-runner check after export")->group(d)->capture_default_str();
    app.add_flag("--progress,!--no-progress", o.progress, "Progress bar on stderr")->capture_default_str();
    app.add_flag("--checkpoints,!--no-checkpoints", o.checkpoints, "Write OUTPUT.epochN.pt after every epoch")->capture_default_str();
    app.add_flag("--describe", describe, "Print the architecture (shapes, depth, Table-3 counts) for the data set and exit");
    CLI11_PARSE(app, argc, argv);
    try {
        if (describe) {
            std::cout << hecnn::train::describe(o);
            return 0;
        }
        hecnn::train::run_training(o);
    } catch (const hecnn::train::Diverged& e) {
        std::cerr << "\nerror: " << e.what() << "\n";
        return 3;
    } catch (const std::exception& e) {
        std::cerr << "\nerror: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
