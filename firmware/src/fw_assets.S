/*
 * Build-time assets embedded in flash (both the target and the host twin assemble this
 * file; the assembler finds the files through -I<assets dir>). firmware/build.sh makes
 * them: two digits models (A runs, B is the update), the delta A->B, B's signed
 * manifest, the trusted key and the data stream. Each blob NAME gets symbols NAME
 * (4-aligned bytes) and NAME_len (a 32-bit length).
 */
	.macro blob name, file
	.section .rodata.\name, "a"
	.balign 4
	.global \name
\name:
	.incbin "\file"
\name\()_end:
	.balign 4
	.global \name\()_len
\name\()_len:
	.long \name\()_end - \name
	.endm

	blob fw_model_a, "model_a.tfm"
	blob fw_model_b, "model_b.tfm"
	blob fw_patch_ab, "patch_ab.tfd"
	blob fw_manifest_b, "manifest.cose"
	blob fw_key, "key.bin"
	blob fw_stream, "stream.bin"

	.section .note.GNU-stack, "", %progbits
