/*
 * libcbor's build configuration for the device build (CMake generates this file in a
 * normal libcbor build). Only the streaming decoder and the encoders are compiled for the
 * target; they read none of the sizes below except the version, which cbor.h reports.
 */
#ifndef LIBCBOR_CONFIGURATION_H
#define LIBCBOR_CONFIGURATION_H

#ifndef CBOR_MAJOR_VERSION
#define CBOR_MAJOR_VERSION 0
#define CBOR_MINOR_VERSION 10
#define CBOR_PATCH_VERSION 2
#endif

#define CBOR_BUFFER_GROWTH 2
#define CBOR_MAX_STACK_SIZE 16
#define CBOR_PRETTY_PRINTER 0

#define CBOR_RESTRICT_SPECIFIER restrict
#define CBOR_INLINE_SPECIFIER inline

#endif
