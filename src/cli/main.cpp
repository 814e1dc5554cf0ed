#include <CLI/CLI.hpp>
int main(int argc, char** argv) {
    CLI::App app{"hecnn: privacy-preserving CNN inference with homomorphic encryption"};
    CLI11_PARSE(app, argc, argv);
    return 0;
}
