#include "tinyfleet/agent/error.h"

const char *
tfa_strerror(int err)
{
	switch (err) {
	case TFA_ERR_BUDGET: return "model exceeds the agent's compile-time budget";
	case TFA_ERR_MODEL: return "model not usable for this request";
	case TFA_ERR_ARENA: return "scratch arena too small or misaligned";
	case TFA_ERR_BLOB: return "saved state truncated or corrupt";
	case TFA_ERR_BLOB_VERSION: return "saved state has an unknown version";
	case TFA_ERR_BLOB_MODEL: return "saved state belongs to another model";
	case TFA_ERR_LABEL: return "label out of range";
	case TFA_ERR_STATE: return "call out of order";
	case TFA_ERR_SELFTEST: return "model self-test failed";
	case TFA_ERR_FLASH: return "flash operation failed";
	case TFA_ERR_OFFLINE: return "transport offline";
	case TFA_ERR_NO_MODEL: return "no valid confirmed model";
	case TFA_ERR_GEOMETRY: return "flash layout does not fit";
	case TFA_ERR_COUNTER: return "persistent counter failed";
	}
	return tfp_strerror(err);
}
