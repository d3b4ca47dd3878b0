/* libcbor's export macros for the device build: a static library, nothing to export. */
#ifndef CBOR_EXPORT_H
#define CBOR_EXPORT_H
#define CBOR_EXPORT
#define CBOR_NO_EXPORT
#define CBOR_DEPRECATED __attribute__((__deprecated__))
#endif
