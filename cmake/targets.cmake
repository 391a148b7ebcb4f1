# The torch wheel ships its own fmt (12.x) and protobuf headers in its include folder, which would
# shadow Debian's fmt 9 (that spdlog is built against) and protobuf 3.21 (that libonnx is built
# against). A shim folder searched before torch's puts Debian's versions first.
set(TESSERA_INCLUDE_SHIM ${CMAKE_BINARY_DIR}/include-shim)
file(MAKE_DIRECTORY ${TESSERA_INCLUDE_SHIM})
foreach(dir fmt google)
  if(EXISTS /usr/include/${dir} AND NOT EXISTS ${TESSERA_INCLUDE_SHIM}/${dir})
    file(CREATE_LINK /usr/include/${dir} ${TESSERA_INCLUDE_SHIM}/${dir} SYMBOLIC)
  endif()
endforeach()

# One precompiled header (torch + the standard library) built once and reused by every target.
add_library(tessera_pch OBJECT ${CMAKE_SOURCE_DIR}/cmake/pch.cpp)
target_include_directories(tessera_pch SYSTEM BEFORE PUBLIC ${TESSERA_INCLUDE_SHIM})
target_link_libraries(tessera_pch PUBLIC ${TORCH_LIBRARIES} spdlog::spdlog yaml-cpp)
target_precompile_headers(tessera_pch PRIVATE ${CMAKE_SOURCE_DIR}/include/tessera/pch.h)
set_target_properties(tessera_pch PROPERTIES POSITION_INDEPENDENT_CODE ON)

# tessera_add_library(NAME SOURCES... DEPS ...): one layer of DESIGN.md as its own target.
function(tessera_add_library name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${A_SOURCES})
  target_include_directories(${name} SYSTEM BEFORE PUBLIC ${TESSERA_INCLUDE_SHIM})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR}/include ${CMAKE_BINARY_DIR}/generated)
  target_link_libraries(${name} PUBLIC ${A_DEPS} ${TORCH_LIBRARIES})
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  tessera_use_pch(${name})
endfunction()

function(tessera_use_pch name)
  target_precompile_headers(${name} REUSE_FROM tessera_pch)
  target_compile_options(${name} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter>)
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()

# libtorch.so exports its own copy of std::filesystem (remove_all crashes when called through it).
# Listing libstdc++ first among an executable's needed libraries makes the dynamic linker bind
# those symbols to the system libstdc++.
function(tessera_add_executable name)
  add_executable(${name} ${ARGN})
  target_link_options(${name} BEFORE PRIVATE "LINKER:--push-state,--no-as-needed" "-lstdc++" "LINKER:--pop-state")
  tessera_use_pch(${name})
  # The shared PCH is built with -fPIC; CMake would compile executables with -fPIE, which makes GCC
  # reject the PCH. -fPIC objects link into a PIE executable just as well.
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
  target_compile_options(${name} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-fPIC>)
  set_target_properties(${name} PROPERTIES BUILD_RPATH "${TORCH_LIB_DIR}")
endfunction()
