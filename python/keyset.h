// hecnn.KeySet: the client's key directory (io::ClientKeys: secret key, evaluation keys,
// parameters, plan copy), made for a plan, loaded or saved like `hecnn keygen`'s, and what
// the client does with it: encrypt images into a batch file, decrypt a result file. A key
// set made without a directory lives in a private temporary one (mode 0700) for as long as
// the object; it refuses to pickle (the secret key never leaves by accident).
#pragma once

#include <pybind11/pybind11.h>

#include <filesystem>

#include "hecnn/io/keyset.h"
#include "temp_dir.h"

namespace hecnn::python {

struct KeySet {
    std::filesystem::path dir;
    io::ClientKeys keys;
    bool insecure = false;  // test-only parameters accepted
    TempDirPtr owner;       // set: dir is temporary
};

void bind_keyset(pybind11::module_& m);

}  // namespace hecnn::python
