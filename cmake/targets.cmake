# The three kinds of target the project has, each written once: a layer library, the tests of
# a layer, the micro-benchmarks; and the installed CMake package of the layers.

# hecnn_layer(NAME [PUBLIC libs...] [PRIVATE libs...])
# The static library hecnn_NAME (alias hecnn::NAME) of src/NAME/*.cpp. Public headers are in
# include/hecnn/NAME, internals in src/NAME (visible to this layer only).
function(hecnn_layer name)
  file(GLOB sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*.cpp)
  add_library(hecnn_${name} STATIC ${sources})
  add_library(hecnn::${name} ALIAS hecnn_${name})
  set_target_properties(hecnn_${name} PROPERTIES EXPORT_NAME ${name})
  target_include_directories(hecnn_${name}
    PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE ${PROJECT_SOURCE_DIR}/src/${name})
  target_link_libraries(hecnn_${name} ${ARGN})
  if(HECNN_BUILD_PYTHON)
    # The layers also go into the Python module, a shared object: position-independent
    # code. Without semantic interposition it is the code -fPIE gives (calls within a layer
    # direct and inlinable), and executables relax its TLS accesses back to local ones.
    set_target_properties(hecnn_${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
    target_compile_options(hecnn_${name} PRIVATE -fno-semantic-interposition)
  endif()
  set_property(GLOBAL APPEND PROPERTY HECNN_LAYERS hecnn_${name})
endfunction()

# hecnn_add_tests(LAYER LINK libs... [SOURCES files...] [INCLUDE dirs...] [DEFINITIONS defs...]
#                 [DEPENDS targets...] [THREADS n] [ONE_PROCESS] [TIMEOUT seconds])
# One GoogleTest executable LAYER_test_X per tests/LAYER/test_X.cpp, so that a suite builds
# and runs alone. Its tests are discovered and named LAYER_<Suite>.<Case>; with ONE_PROCESS
# the executable is a single ctest test of its own name instead (for suites whose process
# start is costly). Tests include from tests/ and src/ (internal headers) and find their data
# files at HECNN_TEST_DATA. THREADS is the OpenMP thread count of each test (default 2).
function(hecnn_add_tests layer)
  cmake_parse_arguments(PARSE_ARGV 1 arg "ONE_PROCESS" "THREADS;TIMEOUT" "LINK;SOURCES;INCLUDE;DEFINITIONS;DEPENDS")
  if(NOT arg_THREADS)
    set(arg_THREADS 2)
  endif()
  # OPENBLAS_NUM_THREADS: libtorch's BLAS, in hecnn-train and the train tests.
  set(env "OMP_NUM_THREADS=${arg_THREADS};OPENBLAS_NUM_THREADS=1")
  list(TRANSFORM arg_SOURCES PREPEND ${PROJECT_SOURCE_DIR}/)
  list(TRANSFORM arg_INCLUDE PREPEND ${PROJECT_SOURCE_DIR}/)
  file(GLOB tests CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/${layer}/test_*.cpp)
  foreach(src IN LISTS tests)
    get_filename_component(file ${src} NAME_WE)
    set(t ${layer}_${file})
    # tests/test_environment.cpp: what every test process runs under (the user's measured
    # rates kept out), whichever way ctest or a developer starts it.
    add_executable(${t} ${src} ${arg_SOURCES} ${PROJECT_SOURCE_DIR}/tests/test_environment.cpp)
    target_include_directories(${t} PRIVATE ${PROJECT_SOURCE_DIR}/tests ${PROJECT_SOURCE_DIR}/src ${arg_INCLUDE})
    target_link_libraries(${t} PRIVATE ${arg_LINK} GTest::gtest GTest::gtest_main)
    target_compile_definitions(${t} PRIVATE HECNN_TEST_DATA="${PROJECT_SOURCE_DIR}/tests/data" ${arg_DEFINITIONS})
    if(arg_DEPENDS)
      add_dependencies(${t} ${arg_DEPENDS})
    endif()
    if(arg_ONE_PROCESS)
      add_test(NAME ${t} COMMAND ${t})
      set_tests_properties(${t} PROPERTIES ENVIRONMENT "${env}")
      if(arg_TIMEOUT)
        set_tests_properties(${t} PROPERTIES TIMEOUT ${arg_TIMEOUT})
      endif()
    else()
      gtest_discover_tests(${t} TEST_PREFIX "${layer}_" DISCOVERY_TIMEOUT 60 PROPERTIES ENVIRONMENT "${env}")
    endif()
  endforeach()
endfunction()

# hecnn_add_benchmarks(LINK libs...)
# One Google Benchmark executable per benchmarks/bench_*.cpp, of the same name. Benchmarks
# include from src/ (internal kernels) and tests/ (the Highway target pinning).
function(hecnn_add_benchmarks)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "" "LINK")
  file(GLOB benches CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/benchmarks/bench_*.cpp)
  foreach(src IN LISTS benches)
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src})
    target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
    target_link_libraries(${name} PRIVATE ${arg_LINK} benchmark::benchmark)
  endforeach()
endfunction()

# hecnn_install_package()
# Installs every layer library with an exported CMake package (lib/cmake/hecnn): a project
# calls find_package(hecnn) and links hecnn::ckks, hecnn::server, ... Call after all layers.
function(hecnn_install_package)
  include(CMakePackageConfigHelpers)
  get_property(layers GLOBAL PROPERTY HECNN_LAYERS)
  set(dir ${CMAKE_INSTALL_LIBDIR}/cmake/hecnn)
  install(TARGETS ${layers} EXPORT hecnnTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT hecnnTargets NAMESPACE hecnn:: DESTINATION ${dir})
  configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/hecnnConfig.cmake.in
    ${CMAKE_BINARY_DIR}/hecnnConfig.cmake INSTALL_DESTINATION ${dir})
  write_basic_package_version_file(${CMAKE_BINARY_DIR}/hecnnConfigVersion.cmake COMPATIBILITY SameMinorVersion)
  install(FILES ${CMAKE_BINARY_DIR}/hecnnConfig.cmake ${CMAKE_BINARY_DIR}/hecnnConfigVersion.cmake DESTINATION ${dir})
endfunction()
