/*
 * decrypt.h - `clearcap decrypt IN -o OUT [--keylog FILE] [--srtp-keylog FILE]` (decrypt.c).
 */
#ifndef CC_DECRYPT_H
#define CC_DECRYPT_H

int cc_cmd_decrypt(int argc, char **argv);

#endif /* CC_DECRYPT_H */
