#include "tinyfleet/protocol/error.h"

const char *
tfp_strerror(int err)
{
	switch (err) {
	case TFP_OK: return "success";
	case TFP_ERR_INTERNAL: return "internal error";
	case TFP_ERR_ARG: return "invalid argument";
	case TFP_ERR_BUFFER: return "output buffer too small";
	case TFP_ERR_TRUNCATED: return "input truncated";
	case TFP_ERR_MALFORMED: return "malformed CBOR";
	case TFP_ERR_WRONG_TYPE: return "wrong CBOR type for field";
	case TFP_ERR_MISSING_FIELD: return "required field missing";
	case TFP_ERR_UNKNOWN_FIELD: return "unknown field";
	case TFP_ERR_DUPLICATE_FIELD: return "duplicate field";
	case TFP_ERR_OVERSIZE: return "length or count exceeds its bound";
	case TFP_ERR_INDEFINITE: return "indefinite-length item not allowed";
	case TFP_ERR_TRAILING: return "trailing bytes after message";
	case TFP_ERR_RANGE: return "value out of range";
	case TFP_ERR_DEPTH: return "nesting too deep";
	case TFP_ERR_BAD_TEXT: return "unacceptable text string";
	case TFP_ERR_UNKNOWN_MESSAGE: return "unknown message type";
	case TFP_ERR_SENML_VALUE: return "SenML record value missing, conflicting or of the wrong kind";
	case TFP_ERR_SENML_NAME: return "SenML record name empty or invalid";
	case TFP_ERR_SENML_BASE: return "SenML base name or version not acceptable";
	case TFP_ERR_BAD_TAG: return "wrong or missing CBOR tag";
	case TFP_ERR_BAD_HEADER: return "unacceptable COSE header";
	case TFP_ERR_UNSUPPORTED_ALG: return "unsupported or unprotected algorithm";
	case TFP_ERR_BAD_SIGNATURE: return "bad signature";
	case TFP_ERR_UNKNOWN_KEY: return "unknown signing key";
	case TFP_ERR_EXPIRED: return "manifest expired";
	case TFP_ERR_KEY: return "unusable key";
	case TFP_ERR_CRYPTO: return "crypto library failure";
	case TFP_ERR_NO_PAYLOAD: return "missing payload";
	case TFP_ERR_COSE_STRUCTURE: return "not a COSE_Sign1 structure";
	case TFP_ERR_CONTAINER: return "malformed model container";
	case TFP_ERR_CONTAINER_VERSION: return "unsupported container version";
	case TFP_ERR_CONTAINER_MAGIC: return "not a model container";
	case TFP_ERR_CONTAINER_SIZE: return "container size does not match its header";
	case TFP_ERR_CONTAINER_BOUNDS: return "container table or tensor out of bounds";
	case TFP_ERR_CONTAINER_OVERLAP: return "container tensors overlap";
	case TFP_ERR_CONTAINER_DTYPE: return "bad tensor dtype or kind";
	case TFP_ERR_CONTAINER_SHAPE: return "bad tensor or layer shape";
	case TFP_ERR_CONTAINER_LAYER: return "bad layer";
	case TFP_ERR_CONTAINER_QUANT: return "bad quantisation parameters";
	case TFP_ERR_CONTAINER_LIMIT: return "container limit exceeded";
	case TFP_ERR_CONTAINER_TEXT: return "bad container text field";
	case TFP_ERR_CONTAINER_RESERVED: return "reserved container field not zero";
	case TFP_ERR_CONTAINER_ARENA: return "declared arena or flash too small";
	case TFP_ERR_DELTA: return "malformed delta patch";
	case TFP_ERR_DELTA_VERSION: return "unsupported delta patch version";
	case TFP_ERR_DELTA_MAGIC: return "not a delta patch";
	case TFP_ERR_DELTA_CORRUPT: return "delta block checksum mismatch";
	case TFP_ERR_DELTA_TRUNCATED: return "delta patch truncated";
	case TFP_ERR_DELTA_OLD_SIZE: return "old image size does not match the patch";
	case TFP_ERR_DELTA_BOUNDS: return "delta operation out of bounds";
	case TFP_ERR_DELTA_TRAILING: return "trailing bytes after delta patch";
	case TFP_ERR_DELTA_IO: return "delta read/write callback failed";
	case TFP_ERR_DELTA_CHECKPOINT: return "invalid delta checkpoint";
	case TFP_ERR_DELTA_TENSOR: return "unusable tensor table";
	}
	return "unknown error";
}
