/*
 * tinyfleet protocol error codes.
 *
 * Every function of the protocol library returns an int: 0 (TFP_OK) on success or one of
 * the negative codes below. Codes are grouped in ranges so that a code alone tells which
 * layer refused the input; each range belongs to one module and new codes are added inside
 * their module's range only. Values are part of the wire contract (devices report them in
 * result messages), so a published value never changes meaning.
 */
#ifndef TINYFLEET_PROTOCOL_ERROR_H
#define TINYFLEET_PROTOCOL_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum tfp_err {
	TFP_OK = 0,

	/* -1 .. -19: caller and internal errors */
	TFP_ERR_INTERNAL = -1,          /* a broken invariant inside the library */
	TFP_ERR_ARG = -2,               /* invalid argument from the caller */
	TFP_ERR_BUFFER = -3,            /* caller's output buffer too small */

	/* -20 .. -39: CBOR structure (cbor_io, every message decoder) */
	TFP_ERR_TRUNCATED = -20,        /* input ends inside an item */
	TFP_ERR_MALFORMED = -21,        /* not well-formed CBOR (reserved additional info, ...) */
	TFP_ERR_WRONG_TYPE = -22,       /* an item has another major type than the field needs */
	TFP_ERR_MISSING_FIELD = -23,    /* a required map key is absent */
	TFP_ERR_UNKNOWN_FIELD = -24,    /* a map key the schema does not define (strict maps) */
	TFP_ERR_DUPLICATE_FIELD = -25,  /* a map key appears twice */
	TFP_ERR_OVERSIZE = -26,         /* a length or count exceeds the field's bound */
	TFP_ERR_INDEFINITE = -27,       /* indefinite-length item (not allowed on the wire) */
	TFP_ERR_TRAILING = -28,         /* bytes left after the top-level item */
	TFP_ERR_RANGE = -29,            /* a value outside its allowed range or enum */
	TFP_ERR_DEPTH = -30,            /* nesting deeper than the decoder allows */
	TFP_ERR_BAD_TEXT = -31,         /* text string that is not acceptable (e.g. has NUL) */
	TFP_ERR_UNKNOWN_MESSAGE = -32,  /* message type not known to this version */
	/* -36 .. -38: SenML (RFC 8428) semantics, telemetry */
	TFP_ERR_SENML_VALUE = -36,      /* record value conflicting (two of v/vs/vb/vd), missing,
	                                   or of another kind or unit than the record needs */
	TFP_ERR_SENML_NAME = -37,       /* resolved record name empty or not RFC 8428 §4.5.1 */
	TFP_ERR_SENML_BASE = -38,       /* base name not <device>/<model>:<version>/, a record
	                                   outside it, or SenML version (bver) not supported */

	/* -40 .. -59: COSE_Sign1 and manifests */
	TFP_ERR_BAD_TAG = -40,          /* wrong or missing CBOR tag (COSE_Sign1 is tag 18) */
	TFP_ERR_BAD_HEADER = -41,       /* protected/unprotected header not acceptable */
	TFP_ERR_UNSUPPORTED_ALG = -42,  /* alg other than ES256, or alg not protected */
	TFP_ERR_BAD_SIGNATURE = -43,    /* signature does not verify */
	TFP_ERR_UNKNOWN_KEY = -44,      /* key id names no trusted key */
	TFP_ERR_EXPIRED = -45,          /* manifest past its expiry */
	TFP_ERR_KEY = -46,              /* a key could not be parsed or is not P-256 */
	TFP_ERR_CRYPTO = -47,           /* the crypto library failed (RNG, ...) */
	TFP_ERR_NO_PAYLOAD = -48,       /* detached or nil payload (not supported) */
	TFP_ERR_COSE_STRUCTURE = -49,   /* not a 4-element COSE_Sign1 array */

	/* -60 .. -79: model container */
	TFP_ERR_CONTAINER = -60,        /* container malformed (see module docs for detail) */
	TFP_ERR_CONTAINER_VERSION = -61,/* container format version not supported */
	TFP_ERR_CONTAINER_MAGIC = -62,  /* not a container (magic bytes) */
	TFP_ERR_CONTAINER_SIZE = -63,   /* image shorter than its header, or size field != length */
	TFP_ERR_CONTAINER_BOUNDS = -64, /* a table or tensor lies outside the image or misaligned */
	TFP_ERR_CONTAINER_OVERLAP = -65,/* two tensors, or a tensor and the tables, overlap */
	TFP_ERR_CONTAINER_DTYPE = -66,  /* unknown dtype or kind, or a dtype a use does not allow */
	TFP_ERR_CONTAINER_SHAPE = -67,  /* shape/length mismatch or a broken layer chain */
	TFP_ERR_CONTAINER_LAYER = -68,  /* unknown op/activation, bad tensor reference */
	TFP_ERR_CONTAINER_QUANT = -69,  /* missing or invalid scale/zero point */
	TFP_ERR_CONTAINER_LIMIT = -70,  /* more tensors, layers or elements than allowed */
	TFP_ERR_CONTAINER_TEXT = -71,   /* bad model name/version/tensor name text */
	TFP_ERR_CONTAINER_RESERVED = -72,/* a reserved field is not zero */
	TFP_ERR_CONTAINER_ARENA = -73,  /* declared arena or flash smaller than the model needs */

	/* -80 .. -99: delta patches */
	TFP_ERR_DELTA = -80,            /* patch malformed */
	TFP_ERR_DELTA_VERSION = -81,    /* patch format version not supported */
	TFP_ERR_DELTA_MAGIC = -82,      /* input is not a tinyfleet delta patch */
	TFP_ERR_DELTA_CORRUPT = -83,    /* a block's output fails its CRC-32 (corrupt patch) */
	TFP_ERR_DELTA_TRUNCATED = -84,  /* patch ended before the new image was complete */
	TFP_ERR_DELTA_OLD_SIZE = -85,   /* old image size differs from the patch's */
	TFP_ERR_DELTA_BOUNDS = -86,     /* an operation reaches outside the old or new image */
	TFP_ERR_DELTA_TRAILING = -87,   /* bytes after the last block */
	TFP_ERR_DELTA_IO = -88,         /* the caller's read/write callback failed */
	TFP_ERR_DELTA_CHECKPOINT = -89, /* checkpoint blob torn, not a checkpoint, or inconsistent */
	TFP_ERR_DELTA_TENSOR = -90,     /* tensor table malformed or unusable (encoder) */
};

/* A short, static, human-readable description of a code; never NULL. */
const char *tfp_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
