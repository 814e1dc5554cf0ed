# ctest install_find_package: install the configured build BUILD_DIR into a fresh prefix,
# then configure, build and run the consumer project SOURCE_DIR against that prefix alone.
# Fails if a header, library, exported target or dependency of the package is missing.
# The installed hecnn --help must run (and hecnn-train --help beside it when TRAIN is ON:
# the build made it).
#   cmake -DBUILD_DIR=... -DSOURCE_DIR=... [-DCXX_FLAGS=...] [-DTRAIN=ON] -P check.cmake
set(work ${BUILD_DIR}/install-check)
file(REMOVE_RECURSE ${work})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    list(JOIN ARGN " " cmd)
    message(FATAL_ERROR "install check: '${cmd}' failed (${rc})")
  endif()
endfunction()
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${work}/prefix)
run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${work}/build -G Ninja -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_PREFIX_PATH=${work}/prefix -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}")
run(${CMAKE_COMMAND} --build ${work}/build)
run(${work}/build/consumer)
run(${work}/prefix/bin/hecnn --help)
if(TRAIN)
  run(${work}/prefix/bin/hecnn-train --help)
endif()
