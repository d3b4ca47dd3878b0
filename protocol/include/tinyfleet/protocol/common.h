/*
 * Bounds and identifiers shared by every tinyfleet message and by manifests.
 *
 * Decoders copy identifiers into fixed arrays of these sizes (NUL-terminated, hence +1) and
 * refuse longer ones with TFP_ERR_OVERSIZE, so a device's RAM for any decoded message is
 * known at compile time. Changing a bound changes the wire contract: bump TFP_WIRE_VERSION.
 */
#ifndef TINYFLEET_PROTOCOL_COMMON_H
#define TINYFLEET_PROTOCOL_COMMON_H

#define TFP_WIRE_VERSION 1

#define TFP_DIGEST_LEN 32         /* SHA-256 */
#define TFP_DEVICE_ID_MAX 64      /* device id = certificate CN: [A-Za-z0-9._-] */
#define TFP_CLASS_MAX 32          /* device class, e.g. "stm32l4-vib" */
#define TFP_MODEL_NAME_MAX 32     /* model stream name, e.g. "pump-anomaly" */
#define TFP_VERSION_MAX 24        /* semantic version text, e.g. "1.4.2" */
#define TFP_SENSOR_NAME_MAX 16    /* one sensor kind, e.g. "accel3", "temp" */
#define TFP_SENSORS_MAX 8         /* sensors a device has or a model needs */
#define TFP_KEY_ID_MAX 16         /* release key id (COSE kid) */

#endif
