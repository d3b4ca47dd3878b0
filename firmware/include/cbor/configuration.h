/*
 * libcbor's build configuration for the device build (CMake generates this file in a
 * normal libcbor build). Only the streaming decoder and the encoders are compiled for the
 * target; they read none of the sizes below except the version, which cbor.h reports.
 */
#ifndef LIBCBOR_CONFIGURATION_H
#define LIBCBOR_CONFIGURATION_H

/* The version is the fetched tree's, passed by firmware/CMakeLists.txt. */
#if !defined(CBOR_MAJOR_VERSION) || !defined(CBOR_MINOR_VERSION) || !defined(CBOR_PATCH_VERSION)
#error "CBOR_{MAJOR,MINOR,PATCH}_VERSION must come from the build"
#endif

#define CBOR_BUFFER_GROWTH 2
#define CBOR_MAX_STACK_SIZE 16
#define CBOR_PRETTY_PRINTER 0

#define CBOR_RESTRICT_SPECIFIER restrict
#define CBOR_INLINE_SPECIFIER inline

#endif
