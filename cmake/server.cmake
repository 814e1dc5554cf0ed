# The inference service (issue 5): hecnn_server (service, HTTP transport, client) on top of
# io and he, the `serve`/`client`/`demo` subcommands' library, and the tests/server suite.
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
file(GLOB HECNN_SERVER_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/server/*.cpp)
add_library(hecnn_server STATIC ${HECNN_SERVER_SOURCES})
target_include_directories(hecnn_server PUBLIC ${PROJECT_SOURCE_DIR}/include)
target_link_libraries(hecnn_server PUBLIC hecnn_io hecnn_he PRIVATE PkgConfig::HTTPLIB PkgConfig::SODIUM nlohmann_json::nlohmann_json)
target_link_libraries(hecnn PRIVATE hecnn_server)

if(HECNN_BUILD_TESTS)
  file(GLOB HECNN_SERVER_TESTS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/server/test_*.cpp)
  foreach(src ${HECNN_SERVER_TESTS})
    get_filename_component(name ${src} NAME_WE)
    add_executable(server_${name} ${src} ${PROJECT_SOURCE_DIR}/src/cli/subprocess.cpp)
    target_include_directories(server_${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(server_${name} PRIVATE hecnn_server PkgConfig::HTTPLIB GTest::gtest GTest::gtest_main)
    # The end-to-end tests start the real `hecnn serve` process.
    target_compile_definitions(server_${name} PRIVATE HECNN_EXE="$<TARGET_FILE:hecnn>")
    add_dependencies(server_${name} hecnn)
    gtest_discover_tests(server_${name} DISCOVERY_TIMEOUT 60 PROPERTIES ENVIRONMENT "OMP_NUM_THREADS=2;OPENBLAS_NUM_THREADS=1")
  endforeach()
endif()

# The service under load (N clients × M batches, SIGTERM and restart in the middle):
# hecnn-loadtest, next to hecnn (it starts `hecnn serve`). See docs/SERVICE.md.
add_executable(hecnn-loadtest ${PROJECT_SOURCE_DIR}/benchmarks/loadtest_service.cpp ${PROJECT_SOURCE_DIR}/src/cli/subprocess.cpp)
target_include_directories(hecnn-loadtest PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(hecnn-loadtest PRIVATE hecnn_server CLI11::CLI11)
add_dependencies(hecnn-loadtest hecnn)
