# libFuzzer targets of every reader: fuzz/*.cpp (included when HECNN_FUZZ is ON).
#
# scripts/fuzz builds it in build-fuzz with `scripts/build fuzz`, the fuzz preset of
# CMakePresets.json (clang++, RelWithDebInfo, HECNN_FUZZ=ON, no train, tests or benchmarks):
#   cmake --preset fuzz && cmake --build --preset fuzz
# Every library and executable of the project is compiled with
# -fsanitize=fuzzer-no-link,address,undefined (coverage + sanitizers, no libFuzzer main);
# the targets in fuzz/ are linked with -fsanitize=fuzzer,address,undefined.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "HECNN_FUZZ needs clang for libFuzzer: configure a fresh build directory with -DCMAKE_CXX_COMPILER=clang++")
endif()
if(HECNN_BUILD_TRAIN)
  message(FATAL_ERROR "HECNN_FUZZ: configure with -DHECNN_BUILD_TRAIN=OFF (libtorch is not part of any reader)")
endif()
if(HECNN_BUILD_TESTS OR HECNN_BUILD_BENCHMARKS)
  message(WARNING "HECNN_FUZZ: tests and benchmarks are built instrumented too; pass -DHECNN_BUILD_TESTS=OFF -DHECNN_BUILD_BENCHMARKS=OFF")
endif()

set(HECNN_FUZZ_SANITIZERS address,undefined)
# UBSan must abort (libFuzzer then keeps the input); -g for symbolised reports.
set(HECNN_FUZZ_COMMON_FLAGS -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g)

# Instrument every target of the project, also those that files included after this one
# define: deferred to the end of the top-level directory.
function(hecnn_fuzz_instrument_all)
  get_property(targets DIRECTORY ${PROJECT_SOURCE_DIR} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(t IN LISTS targets)
    get_target_property(type ${t} TYPE)
    get_target_property(is_fuzz ${t} HECNN_FUZZ_TARGET)
    if(is_fuzz OR NOT type MATCHES "^(STATIC_LIBRARY|OBJECT_LIBRARY|SHARED_LIBRARY|EXECUTABLE)$")
      continue()
    endif()
    target_compile_options(${t} PRIVATE -fsanitize=fuzzer-no-link,${HECNN_FUZZ_SANITIZERS} ${HECNN_FUZZ_COMMON_FLAGS})
    if(type STREQUAL "EXECUTABLE" OR type STREQUAL "SHARED_LIBRARY")
      target_link_options(${t} PRIVATE -fsanitize=${HECNN_FUZZ_SANITIZERS})
    endif()
  endforeach()
endfunction()
cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL hecnn_fuzz_instrument_all)

set(HECNN_FUZZ_DIR ${PROJECT_SOURCE_DIR}/fuzz)
add_custom_target(fuzz)  # every fuzz target and the corpus generator

# hecnn_fuzz_target(NAME LIBS...): fuzz/NAME.cpp linked with libFuzzer's main.
function(hecnn_fuzz_target name)
  add_executable(${name} ${HECNN_FUZZ_DIR}/${name}.cpp)
  set_target_properties(${name} PROPERTIES HECNN_FUZZ_TARGET ON RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
  target_include_directories(${name} PRIVATE ${HECNN_FUZZ_DIR} ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer,${HECNN_FUZZ_SANITIZERS} ${HECNN_FUZZ_COMMON_FLAGS})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer,${HECNN_FUZZ_SANITIZERS})
  target_link_libraries(${name} PRIVATE ${ARGN})
  add_dependencies(fuzz ${name})
endfunction()

# Engine objects (ckks serialisation), against fixed small insecure parameters.
foreach(name fuzz_parameters fuzz_secret_key fuzz_public_key fuzz_relin_key fuzz_galois_keys fuzz_plaintext fuzz_ciphertext
             fuzz_peek_header)
  hecnn_fuzz_target(${name} hecnn_ckks PkgConfig::SODIUM)
endforeach()
# Model and data readers.
hecnn_fuzz_target(fuzz_onnx hecnn_io)
hecnn_fuzz_target(fuzz_idx hecnn_io)
hecnn_fuzz_target(fuzz_cifar10 hecnn_io)
hecnn_fuzz_target(fuzz_image hecnn_io)
# The workflow's files: plan JSON, evaluation-key bundle, batch/result files, the client's
# predictions files (decrypt/eval --out, decrypt --reference), and the
# service's answers as the client reads them (src/server/protocol.h).
hecnn_fuzz_target(fuzz_plan hecnn_io PkgConfig::SODIUM nlohmann_json::nlohmann_json)
hecnn_fuzz_target(fuzz_eval_keys hecnn_io PkgConfig::SODIUM)
hecnn_fuzz_target(fuzz_batch hecnn_io PkgConfig::SODIUM)
hecnn_fuzz_target(fuzz_predictions hecnn_io)
hecnn_fuzz_target(fuzz_service_answer hecnn_server nlohmann_json::nlohmann_json)

# Seed corpus generator (not a fuzz target: a plain instrumented program).
add_executable(fuzz_make_corpus ${HECNN_FUZZ_DIR}/make_corpus.cpp)
set_target_properties(fuzz_make_corpus PROPERTIES HECNN_FUZZ_TARGET ON RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
target_include_directories(fuzz_make_corpus PRIVATE ${HECNN_FUZZ_DIR} ${PROJECT_SOURCE_DIR}/src)
target_compile_options(fuzz_make_corpus PRIVATE -fsanitize=${HECNN_FUZZ_SANITIZERS} ${HECNN_FUZZ_COMMON_FLAGS})
target_link_options(fuzz_make_corpus PRIVATE -fsanitize=${HECNN_FUZZ_SANITIZERS})
target_link_libraries(fuzz_make_corpus PRIVATE hecnn_ckks hecnn_io PkgConfig::SODIUM PNG::PNG JPEG::JPEG ZLIB::ZLIB)
add_dependencies(fuzz fuzz_make_corpus)
