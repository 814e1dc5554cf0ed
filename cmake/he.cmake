# Encrypted inference (issue 4): the HE compiler, schedule, simulator and runtime
# (hecnn_he), the `plan` and `bench infer` subcommands, and the tests/he suite.
file(GLOB HECNN_HE_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/he/*.cpp)
add_library(hecnn_he STATIC ${HECNN_HE_SOURCES})
target_include_directories(hecnn_he PUBLIC ${PROJECT_SOURCE_DIR}/include)
target_link_libraries(hecnn_he PUBLIC hecnn_nn hecnn_ckks OpenMP::OpenMP_CXX PRIVATE nlohmann_json::nlohmann_json)
target_link_libraries(hecnn PRIVATE hecnn_he)
# The client/server file workflow in io (plan file, keys, batches, jobs) needs ckks and he.
target_link_libraries(hecnn_io PUBLIC hecnn_he PRIVATE PkgConfig::SODIUM nlohmann_json::nlohmann_json)

if(HECNN_BUILD_TESTS)
  file(GLOB HECNN_HE_TESTS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/he/test_*.cpp)
  foreach(src ${HECNN_HE_TESTS})
    get_filename_component(name ${src} NAME_WE)
    add_executable(he_${name} ${src})
    target_include_directories(he_${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(he_${name} PRIVATE hecnn_he GTest::gtest GTest::gtest_main)
    # TEST_PREFIX: `ctest -R ^he_` runs exactly this suite.
    gtest_discover_tests(he_${name} TEST_PREFIX "he_" DISCOVERY_TIMEOUT 60 PROPERTIES ENVIRONMENT "OMP_NUM_THREADS=2;OPENBLAS_NUM_THREADS=1")
  endforeach()
endif()
