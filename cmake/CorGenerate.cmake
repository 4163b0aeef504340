# CorGenerate.cmake — turn .proto files into C: protobuf-c messages
# (protoc-gen-c) and, unless NO_STUBS, Corundum proxies and skeletons
# (protoc-gen-cor).
#
#   cor_generate(TARGET myapp PROTOS echo/echo.proto
#                [PROTO_PATH dir]     # root the .proto names are relative to
#                [IMPORT_DIRS d ...]  # further -I roots
#                [NO_STUBS])
#
# For `echo/echo.proto` this adds to the target echo/echo.pb-c.{c,h} and
# echo/echo.cor.{c,h}, generated under the target's binary dir, and puts that
# dir on the target's include path, so code writes #include "echo/echo.cor.h".
# The cor/options.proto import and google/protobuf/descriptor.proto are found
# automatically.

find_program(COR_PROTOC protoc REQUIRED)
find_program(COR_PROTOC_GEN_C protoc-gen-c REQUIRED)
set(COR_PROTO_DIR ${CMAKE_CURRENT_LIST_DIR}/../proto CACHE INTERNAL "")
set(COR_SYSTEM_PROTO_DIR /usr/include CACHE PATH "Where google/protobuf/*.proto live")

function(cor_generate)
  cmake_parse_arguments(G "NO_STUBS" "TARGET;PROTO_PATH;OUT_DIR" "PROTOS;IMPORT_DIRS" ${ARGN})
  if(NOT G_TARGET OR NOT G_PROTOS)
    message(FATAL_ERROR "cor_generate: TARGET and PROTOS are required")
  endif()
  if(NOT G_PROTO_PATH)
    set(G_PROTO_PATH ${CMAKE_CURRENT_SOURCE_DIR})
  endif()
  if(NOT G_OUT_DIR)
    set(G_OUT_DIR ${CMAKE_CURRENT_BINARY_DIR}/gen)
  endif()
  file(MAKE_DIRECTORY ${G_OUT_DIR})

  set(_incs -I${G_PROTO_PATH})
  foreach(d ${G_IMPORT_DIRS} ${COR_PROTO_DIR} ${COR_SYSTEM_PROTO_DIR})
    list(APPEND _incs -I${d})
  endforeach()

  set(_plugin_args "")
  set(_plugin_deps "")
  if(NOT G_NO_STUBS)
    set(_plugin_args --plugin=protoc-gen-cor=$<TARGET_FILE:protoc-gen-cor> --cor_out=${G_OUT_DIR})
    set(_plugin_deps protoc-gen-cor)
  endif()

  set(_srcs "")
  foreach(p ${G_PROTOS})
    string(REGEX REPLACE "\\.proto$" "" _base ${p})
    set(_outs ${G_OUT_DIR}/${_base}.pb-c.c ${G_OUT_DIR}/${_base}.pb-c.h)
    if(NOT G_NO_STUBS)
      list(APPEND _outs ${G_OUT_DIR}/${_base}.cor.c ${G_OUT_DIR}/${_base}.cor.h)
    endif()
    if(IS_ABSOLUTE ${p})
      set(_abs ${p})
    else()
      set(_abs ${G_PROTO_PATH}/${p})
    endif()
    add_custom_command(
      OUTPUT ${_outs}
      COMMAND ${COR_PROTOC} ${_incs}
              --plugin=protoc-gen-c=${COR_PROTOC_GEN_C} --c_out=${G_OUT_DIR}
              ${_plugin_args} ${_abs}
      DEPENDS ${_abs} ${_plugin_deps}
      COMMENT "cor_generate ${p}"
      VERBATIM)
    list(APPEND _srcs ${_outs})
    # protobuf-c's generated text trips some of our warnings; keep it quiet.
    set_source_files_properties(${G_OUT_DIR}/${_base}.pb-c.c PROPERTIES
      COMPILE_OPTIONS "-Wno-missing-prototypes;-Wno-unused-parameter")
  endforeach()
  target_sources(${G_TARGET} PRIVATE ${_srcs})
  target_include_directories(${G_TARGET} PUBLIC $<BUILD_INTERFACE:${G_OUT_DIR}>)
endfunction()
