// SPDX-License-Identifier: Apache-2.0
// Wire and timer constants. Read the WireGuard paper (whitepaper, section 5 "Protocol & Cryptography"
// and section 6 "Timers & Stateless UX") next to this file: every name below is the paper's.

// ---- specification: message types and sizes (section 5.4) ----

/** First byte of a handshake initiation, i.e. `01 00 00 00`. */
export const MESSAGE_INITIATION_TYPE = 1;
/** First byte of a handshake response. */
export const MESSAGE_RESPONSE_TYPE = 2;
/** First byte of a cookie reply. */
export const MESSAGE_COOKIE_REPLY_TYPE = 3;
/** First byte of a transport data message (a keepalive is one with an empty payload). */
export const MESSAGE_TRANSPORT_TYPE = 4;

export const MESSAGE_INITIATION_SIZE = 148; // handshake initiation
export const MESSAGE_RESPONSE_SIZE = 92; // handshake response
export const MESSAGE_COOKIE_REPLY_SIZE = 64; // cookie reply
export const MESSAGE_TRANSPORT_HEADER_SIZE = 16; // type+reserved (4), receiver (4), counter (8)
export const MESSAGE_KEEPALIVE_SIZE = 32; // header + the AEAD tag of an empty payload
export const MESSAGE_TRANSPORT_MIN_SIZE = MESSAGE_KEEPALIVE_SIZE;
/** Largest UDP payload we accept or produce. */
export const MAX_DATAGRAM_SIZE = 65535;
/** Largest plaintext packet that fits in one datagram after header, padding and tag. */
export const MAX_CONTENT_SIZE = MAX_DATAGRAM_SIZE - MESSAGE_KEEPALIVE_SIZE - 15;

export const KEY_SIZE = 32; // X25519 keys, symmetric keys, BLAKE2s-256 digests
export const AEAD_TAG_SIZE = 16; // Poly1305 tag
export const AEAD_NONCE_SIZE = 12; // ChaCha20-Poly1305 IETF nonce: 4 zero bytes + 64-bit LE counter
export const XAEAD_NONCE_SIZE = 24; // XChaCha20-Poly1305 nonce of a cookie reply
export const MAC_SIZE = 16; // keyed BLAKE2s-128 of mac1/mac2/cookie
export const COOKIE_SIZE = 16;
export const TAI64N_SIZE = 12;
/** Transport plaintext is zero-padded to a multiple of this (section 5.4.6). */
export const PADDING_MULTIPLE = 16;

// Field offsets; every message starts with a little-endian u32 whose low byte is the type.
export const INITIATION_OFFSET_SENDER = 4;
export const INITIATION_OFFSET_EPHEMERAL = 8;
export const INITIATION_OFFSET_STATIC = 40; // 32 bytes encrypted + 16 tag
export const INITIATION_OFFSET_TIMESTAMP = 88; // 12 bytes encrypted + 16 tag
export const INITIATION_OFFSET_MAC1 = 116;
export const INITIATION_OFFSET_MAC2 = 132;

export const RESPONSE_OFFSET_SENDER = 4;
export const RESPONSE_OFFSET_RECEIVER = 8;
export const RESPONSE_OFFSET_EPHEMERAL = 12;
export const RESPONSE_OFFSET_EMPTY = 44; // 0 bytes encrypted + 16 tag
export const RESPONSE_OFFSET_MAC1 = 60;
export const RESPONSE_OFFSET_MAC2 = 76;

export const COOKIE_REPLY_OFFSET_RECEIVER = 4;
export const COOKIE_REPLY_OFFSET_NONCE = 8;
export const COOKIE_REPLY_OFFSET_COOKIE = 32; // 16 bytes encrypted + 16 tag

export const TRANSPORT_OFFSET_RECEIVER = 4;
export const TRANSPORT_OFFSET_COUNTER = 8;
export const TRANSPORT_OFFSET_CONTENT = 16;
/** The 64-bit little-endian counter of a transport message. */
export const TRANSPORT_COUNTER_SIZE = 8;
/** The transport nonce is 4 zero bytes then the counter, as it appears on the wire (section 5.4.6). */
export const NONCE_OFFSET_COUNTER = 4;

// ---- specification: inner IP header fields read by cryptokey routing (RFC 791, RFC 8200) ----

export const IPV4_HEADER_MIN_SIZE = 20; // no options
export const IPV4_OFFSET_TOTAL_LENGTH = 2;
export const IPV4_OFFSET_SRC = 12;
export const IPV4_OFFSET_DST = 16;
export const IPV6_HEADER_SIZE = 40;
export const IPV6_OFFSET_PAYLOAD_LENGTH = 4;
export const IPV6_OFFSET_SRC = 8;
export const IPV6_OFFSET_DST = 24;

// ---- specification: Noise names (section 5.4) ----

export const CONSTRUCTION = 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s';
export const IDENTIFIER = 'WireGuard v1 zx2c4 Jason@zx2c4.com';
export const LABEL_MAC1 = 'mac1----';
export const LABEL_COOKIE = 'cookie--';

// ---- specification: timers (section 6.1), in milliseconds ----

/** Tunables of section 6; each one may be overridden per device (tests and interop use short ones). */
export interface TimerConstants {
  /** Initiate a new handshake after this many messages were sent on one key pair, i.e. 2^60. */
  rekeyAfterMessages: number;
  /** Never send or accept a message with a counter at or beyond this, i.e. 2^64 - 2^13 - 1. */
  rejectAfterMessages: number;
  /** The initiator starts a new handshake when its current key pair is older than this, i.e. 120 s. */
  rekeyAfterTime: number;
  /** A key pair older than this is not used at all, i.e. 180 s. */
  rejectAfterTime: number;
  /** Give up retrying a handshake after this long, i.e. 90 s. */
  rekeyAttemptTime: number;
  /** Retry an unanswered initiation after this plus jitter, i.e. 5 s. */
  rekeyTimeout: number;
  /** Jitter added to each rekey timeout is uniform in [0, this), i.e. 334 ms. */
  rekeyTimeoutJitterMax: number;
  /** Send a keepalive when data was received but nothing sent for this long, i.e. 10 s. */
  keepaliveTimeout: number;
  /** A received cookie is used for mac2 for this long; the cookie secret rotates at this period, i.e. 120 s. */
  cookieRefreshTime: number;
}

/** REJECT_AFTER_MESSAGES = 2^64 - 2^13 - 1; as a double it rounds to 2^64 - 2^13, still far above 2^53. */
export const REJECT_AFTER_MESSAGES = 2 ** 64 - 2 ** 13 - 1;
export const REKEY_AFTER_MESSAGES = 2 ** 60;

export const DEFAULT_TIMERS: Readonly<TimerConstants> = Object.freeze({
  rekeyAfterMessages: REKEY_AFTER_MESSAGES,
  rejectAfterMessages: REJECT_AFTER_MESSAGES,
  rekeyAfterTime: 120_000,
  rejectAfterTime: 180_000,
  rekeyAttemptTime: 90_000,
  rekeyTimeout: 5_000,
  rekeyTimeoutJitterMax: 334,
  keepaliveTimeout: 10_000,
  cookieRefreshTime: 120_000,
});

// ---- implementation ----

/** Default tunnel MTU: 1500-byte links minus IPv6 (40) + UDP (8) + WireGuard (32) overhead. */
export const DEFAULT_MTU = 1420;
/** Packets staged per peer while a handshake is pending; the oldest is dropped beyond this (wireguard-go: 128). */
export const MAX_STAGED_PACKETS = 128;
/** Minimum spacing of initiations accepted from one peer, a flood guard (wireguard-go: 20 ms). */
export const HANDSHAKE_INITIATION_RATE = 20;
/** Handshake messages per load window above which the device is "under load" and demands cookies. */
export const DEFAULT_COOKIE_LOAD_THRESHOLD = 64;
/** Length of the window counting handshake messages, and how long "under load" persists after it ends. */
export const UNDER_LOAD_WINDOW = 1_000;
/** Replay window: a ring of 32-bit words (RFC 6479); one word is kept spare so the window slides cheaply. */
export const REPLAY_RING_WORDS = 256;
export const REPLAY_WINDOW_SIZE = (REPLAY_RING_WORDS - 1) * 32; // 8160 counters
/** Random bytes fetched at a time for timer jitter (3 per jitter value). */
export const JITTER_POOL_SIZE = 3 * 128;
/** Bound on the index table so garbage cannot grow it; a peer holds at most 4 indices (3 key pairs + handshake). */
export const MAX_PEERS = 1 << 16;
