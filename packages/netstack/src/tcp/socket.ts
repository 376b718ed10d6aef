// SPDX-License-Identifier: Apache-2.0
// The TCP connection state machine.
//
// Read first: RFC 9293 (TCP, especially 3.3.2 the state diagram and 3.10.7 "SEGMENT ARRIVES", which the
// order of checks in input.ts follows), RFC 5961 (challenge ACKs for RST/SYN/ACK), RFC 7323 (window scale,
// timestamps, PAWS), RFC 2018 (SACK), RFC 6298 (RTO), RFC 5681 + RFC 6582 (congestion control, NewReno).
//
// Shape (after smoltcp's tcp.rs): one `state` field changed only by setState(); input in input.ts
// (segmentArrives, reached through process()); output in output.ts (dispatch), driven by the interface's
// poll; timers are two tagged values (timers.ts). The core is told the time (`now`, in ms) and never reads a
// clock. Nothing here allocates per segment.
import type { IpAddress } from '../wire/ip-address.js';
import type { TcpSegment } from '../wire/tcp.js';
import { Assembler } from './assembler.js';
import { DEFAULT_MSS_V4, DEFAULT_MSS_V6, IDLE_RELEASE_MAX, type TcpConfig } from './config.js';
import { NewReno } from './congestion.js';
import { segmentArrives } from './input.js';
import { onRetransmitTimeout } from './recovery.js';
import { RingBuffer } from './ring-buffer.js';
import { RttEstimator } from './rtt.js';
import { Scoreboard } from './scoreboard.js';
import { seqAdd, seqDiff } from './seq.js';
import { armTimer, clearTimer, idleTimer, type TcpTimer } from './timers.js';

export type TcpState =
  | 'closed'
  | 'listen'
  | 'syn-sent'
  | 'syn-received'
  | 'established'
  | 'fin-wait-1'
  | 'fin-wait-2'
  | 'close-wait'
  | 'closing'
  | 'last-ack'
  | 'time-wait';

/** Why a connection ended abnormally; the Node-style codes the façade puts on errors. */
export type TcpErrorCode = 'ECONNREFUSED' | 'ECONNRESET' | 'ETIMEDOUT';

/** Bits in TcpSocket.events, collected by the interface and handed to the owner (façade) after input/poll. */
export const TcpEvent = {
  Connected: 1,
  Readable: 2, // data or end-of-stream available
  Writable: 4, // send buffer space freed
  Closed: 8,
} as const;

/** What the socket needs from the interface that owns it. */
export interface TcpHost {
  /** Call after state or buffers changed so that output runs in the next poll. */
  markDirty(sock: TcpSocket): void;
  /** Call when the socket's earliest deadline may have moved earlier. */
  schedule(sock: TcpSocket, at: number): void;
  /** Call when sock.events gained bits. */
  notify(sock: TcpSocket): void;
  /** Call when a passive socket became established (moves it to its listener's accept queue). */
  established(sock: TcpSocket): void;
  /** Call after every state change (the interface keeps its tables and counters with it). */
  stateChanged(sock: TcpSocket, from: TcpState, to: TcpState): void;
  /** Queue a RST for this connection now (abort): <SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK>. */
  sendRst(sock: TcpSocket): void;
  /** Queue the RFC 9293 3.10.7.1 stateless reset answering seg (which arrived on sock's 4-tuple). */
  sendRstFor(sock: TcpSocket, seg: TcpSegment): void;
  /** RFC 5961 7: global challenge-ACK rate limit. */
  allowChallengeAck(now: number): boolean;
}

/** Receives events for one socket (the façade stream implements it). */
export interface TcpEventSink {
  tcpEvent(events: number): void;
}

/** Opaque owner-side handle of a listener; kept as a type here to avoid an import cycle. */
export interface TcpListenerRef {
  halfOpen: number;
}

const ACK_NONE = 0;
const ACK_DELAYED = 1;
const ACK_NOW = 2;

export class TcpSocket {
  /** Connection state, i.e. 'established'. Change only through setState(). */
  state: TcpState = 'closed';
  readonly family: 4 | 6;
  readonly local: IpAddress;
  readonly remote: IpAddress;
  localPort: number;
  remotePort: number;

  // --- send sequence space (RFC 9293 3.3.1) ---
  /** Initial send sequence number, i.e. the seq of our SYN. */
  iss = 0;
  /** Oldest unacknowledged seq (SND.UNA). */
  sndUna = 0;
  /** Next seq to send (SND.NXT); pulled back to SND.UNA on RTO (go-back-N). */
  sndNxt = 0;
  /** Highest seq ever sent + 1 (RFC 6675 HighData), i.e. what an ACK may acknowledge at most. */
  sndMax = 0;
  /** Peer's advertised window in bytes, already scaled (SND.WND). */
  sndWnd = 0;
  /** Largest window the peer ever advertised (RFC 5961 5.2 MAX.SND.WND). */
  maxSndWnd = 0;
  /** Segment seq/ack used for the last window update (SND.WL1, SND.WL2). */
  sndWl1 = 0;
  sndWl2 = 0;
  /** Shift applied to the peer's window field (its RFC 7323 scale), i.e. 7. */
  sndWndShift = 0;

  // --- receive sequence space ---
  irs = 0;
  /** Next seq expected (RCV.NXT). */
  rcvNxt = 0;
  /** Shift applied to our window field (our RFC 7323 scale). */
  rcvWndShift = 0;
  /** rcvNxt + window at the last segment we sent: the right edge we promised. */
  rcvAdvRight = 0;
  /** RCV.NXT we last acknowledged (RFC 7323 Last.ACK.sent). */
  lastAckSent = 0;
  /** Stream offset (bytes since SYN) of rcvNxt; the assembler works in these units. */
  rcvStream = 0;

  // --- negotiated options ---
  /** Send MSS: min(ours, peer's), i.e. 1380 for MTU 1420 over IPv4. */
  mss: number;
  /** Our MSS (MTU minus IP and TCP headers), advertised in our SYN. */
  readonly ourMss: number;
  tsEnabled = false;
  /** RFC 7323 TS.Recent. */
  tsRecent = 0;
  /** Random per-connection offset of our timestamp clock (RFC 7323 5.4). */
  tsOffset = 0;
  sackEnabled = false;

  // --- buffers ---
  readonly sendBuf: RingBuffer;
  readonly recvBuf: RingBuffer;
  readonly assembler = new Assembler();
  readonly scoreboard = new Scoreboard();

  // --- loss recovery (congestion.ts, output.ts) ---
  readonly cc: NewReno;
  readonly rtt: RttEstimator;
  inRecovery = false;
  /** RFC 6582 "recover": SND.MAX when recovery began. */
  recoverSeq = 0;
  /** RFC 6675 HighRxt: everything below was retransmitted in this recovery. */
  highRxt = 0;
  /** Without SACK, the end of the range presumed lost (one segment after SND.UNA). */
  rxtEnd = 0;
  /** The first retransmission of a recovery goes out regardless of cwnd (RFC 5681 3.2 step 2). */
  fastRetransmitPending = false;
  dupAcks = 0;
  /**
   * Duplicate-ACK threshold, i.e. 3; raised when a recovery turns out to have been caused by reordering
   * (as Linux's tp->reordering), so a path that reorders stops halving cwnd for nothing.
   */
  reorderThresh = 3;
  /**
   * Eifel (RFC 3522 detection, RFC 4015 response): cwnd/ssthresh before the recovery, our timestamp clock at
   * the first retransmission and its sequence number. If the ACK covering it echoes an older timestamp, the
   * original arrived: the recovery was spurious and is undone.
   */
  undoPossible = false;
  undoCwnd = 0;
  undoSsthresh = 0;
  undoTsVal = 0;
  undoSeq = 0;
  undoDegree = 0;
  /** RFC 2883 D-SACK: a duplicate range to report first in the next ACK. */
  dsackPending = false;
  dsackLeft = 0;
  dsackRight = 0;
  /** RFC 3042 limited transmit: new segments sent on the first two duplicate ACKs. */
  limitedTransmits = 0;
  /**
   * Lost-retransmission detection (in the spirit of RFC 8985 RACK): the first sequence number retransmitted
   * in the current round and SND.MAX at that moment. When SACKs cover data sent three segments past that
   * mark while SND.UNA has not passed the retransmission, the retransmission itself was lost. Likewise
   * when an ACK arrives more than 2*SRTT (+ a reordering allowance) after it was sent and it is still missing.
   */
  rxtRoundActive = false;
  rxtRoundSeq = 0;
  rxtRoundMark = 0;
  /** When the round's first retransmission left (time-based detection, RFC 8985 6.2 style). */
  rxtRoundAt = 0;
  /** Consecutive RTO expirations (reset by an ACK of new data). */
  retransmits = 0;
  /** Our timestamp clock at the last RTO (samples echoing older timestamps are discarded). */
  rtoTsVal = 0;
  /** RFC 8985 TLP: send a probe in the next dispatch; one probe per tail (reset by an ACK of new data). */
  tlpPending = false;
  tlpDone = false;
  /** Unanswered keepalive or zero-window probes. */
  probes = 0;
  /** Send a probe segment (seq SND.NXT-1, no data) in the next dispatch. */
  probePending = false;

  // --- timers ---
  readonly timer: TcpTimer = idleTimer();
  readonly ackTimer: TcpTimer = idleTimer();
  /** ACK_NONE / ACK_DELAYED / ACK_NOW. */
  ackState = ACK_NONE;
  /** Full-sized segments received since our last ACK (RFC 5681 4.2: ACK at least every second one). */
  segsUnacked = 0;
  /** Time of the last segment received (keepalive idle reference). */
  lastRecvAt = 0;
  /** Time of the last data sent (RFC 5681 4.1 idle restart). */
  lastSendAt = 0;

  // --- user options ---
  noDelay = false;
  keepAlive = false;
  keepaliveIdleMs: number;

  /** Loss-recovery counters for tests and stats: RTO expirations, recoveries entered, segments resent. */
  readonly counters = { rtos: 0, recoveries: 0, retransmitted: 0, lostRetransmits: 0, spuriousRecoveries: 0 };

  // --- owner bookkeeping ---
  /** Pending TcpEvent bits for the owner. */
  events = 0;
  /** The application no longer holds this socket (see orphan()). */
  orphaned = false;
  /** Application-visible end of stream: the peer's FIN was received (kept after CLOSED). */
  rxEnded = false;
  error: TcpErrorCode | undefined = undefined;
  sink: TcpEventSink | undefined = undefined;
  listener: TcpListenerRef | undefined = undefined;
  /** Interface bookkeeping: on the dirty list, heap deadline, hash chain, table key. */
  dirty = false;
  heapAt = Number.POSITIVE_INFINITY;
  eventQueued = false;
  nextInBucket: TcpSocket | undefined = undefined;
  tableKey = 0;
  inTable = false;

  constructor(
    readonly host: TcpHost,
    readonly cfg: TcpConfig,
    local: IpAddress,
    localPort: number,
    remote: IpAddress,
    remotePort: number,
    ourMss: number,
  ) {
    this.family = local.family;
    this.local = local.clone();
    this.remote = remote.clone();
    this.localPort = localPort;
    this.remotePort = remotePort;
    this.ourMss = ourMss;
    this.mss = ourMss;
    this.sendBuf = new RingBuffer(cfg.sendBufferSize);
    this.recvBuf = new RingBuffer(cfg.recvBufferSize);
    this.cc = new NewReno(ourMss, cfg.initialWindowSegments);
    this.rtt = new RttEstimator(cfg);
    this.keepaliveIdleMs = cfg.keepaliveIdleMs;
    let shift = 0;
    while (shift < 14 && cfg.recvBufferSize >> shift > 0xffff) shift++;
    this.rcvWndShift = cfg.windowScaling ? shift : 0;
  }

  /** The only place state changes (smoltcp set_state). */
  setState(next: TcpState): void {
    if (next === this.state) return;
    const from = this.state;
    this.state = next;
    if (next === 'closed') {
      clearTimer(this.timer);
      clearTimer(this.ackTimer);
      this.sendBuf.discard(this.sendBuf.length);
      this.sendBuf.release();
      this.emit(TcpEvent.Closed | TcpEvent.Readable | TcpEvent.Writable);
    }
    this.host.stateChanged(this, from, next);
  }

  /** Records events for the owner. */
  emit(bits: number): void {
    this.events |= bits;
    this.host.notify(this);
  }

  /** State check that TypeScript does not narrow away after calls that may close the socket. */
  isClosed(): boolean {
    return this.state === 'closed';
  }

  /** True once SYNs were exchanged both ways (RFC 9293 "synchronized" states). */
  get synchronized(): boolean {
    switch (this.state) {
      case 'established':
      case 'fin-wait-1':
      case 'fin-wait-2':
      case 'close-wait':
      case 'closing':
      case 'last-ack':
      case 'time-wait':
        return true;
      default:
        return false;
    }
  }

  /** Our FIN is queued or sent (close() was called), i.e. data ends at the FIN. */
  get finQueued(): boolean {
    return this.state === 'fin-wait-1' || this.state === 'closing' || this.state === 'last-ack';
  }

  /** Sequence number our FIN occupies, fixed when close() is called (valid while finQueued). */
  finSeq = 0;
  /** close() was called in SYN-SENT/SYN-RECEIVED with data queued: close once ESTABLISHED (RFC 9293 3.10.4). */
  closePending = false;

  /** Bytes the application can read now. */
  get recvAvailable(): number {
    return this.recvBuf.length;
  }

  /** Bytes send() accepts now. */
  get sendFree(): number {
    return this.canSend ? this.sendBuf.free : 0;
  }

  /** RFC 9293 3.10.2: SEND is valid until our side closed. */
  get canSend(): boolean {
    switch (this.state) {
      case 'syn-sent':
      case 'syn-received':
      case 'established':
      case 'close-wait':
        return true;
      default:
        return false;
    }
  }

  /** Current window we can offer: free receive-buffer space. */
  get rcvWnd(): number {
    return this.recvBuf.free;
  }

  tsNow(now: number): number {
    return (Math.floor(now) + this.tsOffset) >>> 0;
  }

  // ------------------------------------------------------------------------------------------------
  // User calls (RFC 9293 3.10.1-3.10.5)
  // ------------------------------------------------------------------------------------------------

  /** Active OPEN: call once on a fresh socket. iss comes from the ISN generator. */
  connect(iss: number, tsOffset: number, now: number): void {
    this.initSendSpace(iss, tsOffset);
    this.lastRecvAt = now;
    this.setState('syn-sent');
    this.host.markDirty(this);
  }

  /** Passive OPEN: a listener accepted this SYN (seg) for the new socket. */
  acceptSyn(seg: TcpSegment, iss: number, tsOffset: number, now: number): void {
    this.initSendSpace(iss, tsOffset);
    this.synReceived(seg, now);
    this.setState('syn-received');
    armTimer(this.timer, 'syn-received', now + this.rtt.rto);
    this.host.markDirty(this);
  }

  /** SEND: copies what fits into the send buffer; returns the bytes accepted. */
  send(data: Uint8Array, off = 0, len = data.length - off): number {
    if (!this.canSend) return 0;
    const n = this.sendBuf.write(data, off, len);
    if (n > 0) this.host.markDirty(this);
    return n;
  }

  /** RECEIVE: moves up to len bytes into dst; opening the window may trigger a window update. */
  recv(dst: Uint8Array, off = 0, len = dst.length - off): number {
    const n = this.recvBuf.read(dst, off, len);
    // An idle request/response connection gives its small buffer back (memory per idle connection).
    if (this.recvBuf.length === 0 && this.assembler.isEmpty()) this.recvBuf.release(IDLE_RELEASE_MAX);
    if (n > 0 && this.synchronized) {
      // RFC 9293 3.8.6.2.2 receiver SWS avoidance: announce only a worthwhile window increase.
      const right = seqAdd(this.rcvNxt, this.rcvWnd);
      const gain = seqDiff(right, this.rcvAdvRight);
      const advertised = seqDiff(this.rcvAdvRight, this.rcvNxt);
      if (gain >= Math.min(this.recvBuf.capacity / 2, 2 * this.mss) || advertised < this.mss) {
        if (gain > 0) this.ackNow();
      }
    }
    return n;
  }

  /** CLOSE (graceful): RFC 9293 3.10.4 per state. */
  close(): void {
    switch (this.state) {
      case 'closed':
      case 'listen':
        return;
      case 'syn-sent':
        // RFC 9293 would delete the TCB; a Node socket's end() before 'connect' still connects and then
        // sends FIN, so the close waits for ESTABLISHED (abort() is the way to give up).
        this.closePending = true;
        return;
      case 'syn-received':
        // "queue for processing after entering ESTABLISHED state".
        this.closePending = true;
        return;
      case 'established':
        // FIN goes out after queued data (output.ts), so the state changes now.
        this.finSeq = seqAdd(this.sndUna, this.sendBuf.length);
        this.setState('fin-wait-1');
        break;
      case 'close-wait':
        this.finSeq = seqAdd(this.sndUna, this.sendBuf.length);
        this.setState('last-ack');
        break;
      case 'fin-wait-1':
      case 'fin-wait-2':
      case 'closing':
      case 'last-ack':
      case 'time-wait':
        return; // "error: connection closing"; idempotent here
      default: {
        const never: never = this.state;
        throw new Error(`unhandled state ${never}`);
      }
    }
    this.host.markDirty(this);
  }

  /** ABORT: RFC 9293 3.10.5: send RST in synchronized states, then CLOSED without error. */
  abort(): void {
    if (this.state === 'closed') return;
    if (this.state === 'syn-received' || this.synchronized) {
      if (this.state !== 'time-wait') this.host.sendRst(this);
    }
    this.recvBuf.discard(this.recvBuf.length);
    this.setState('closed');
  }

  /**
   * The application let go of the socket (the façade calls this when its stream is destroyed or finished).
   * A graceful close still completes; a FIN-WAIT-2 that waits for a peer that never closes is bounded by
   * finWait2TimeoutMs from now on.
   */
  orphan(now: number): void {
    if (this.orphaned) return;
    this.orphaned = true;
    this.sink = undefined;
    if (this.state === 'fin-wait-2' && this.timer.kind === 'idle') {
      armTimer(this.timer, 'fin-wait-2', now + this.cfg.finWait2TimeoutMs);
      this.host.schedule(this, this.deadline());
    }
  }

  setNoDelay(on: boolean): void {
    this.noDelay = on;
    if (on) this.host.markDirty(this);
  }

  setKeepAlive(on: boolean, idleMs?: number): void {
    this.keepAlive = on;
    if (idleMs !== undefined && idleMs > 0) this.keepaliveIdleMs = idleMs;
    this.host.markDirty(this);
  }

  /** Closes with an error code (RST received, timeout); also used by recovery.ts. */
  fail(code: TcpErrorCode): void {
    this.error = code;
    this.recvBuf.discard(this.recvBuf.length);
    this.setState('closed');
  }

  /** Owe the peer an ACK now (sent by the next dispatch). */
  ackNow(): void {
    this.ackState = ACK_NOW;
    this.host.markDirty(this);
  }

  /** RFC 5961 7: an ACK in answer to a suspicious segment, within the interface's global rate limit. */
  challengeAck(now: number): void {
    if (this.host.allowChallengeAck(now)) this.ackNow();
  }

  /** Both opens: the send sequence space starts at our ISS (RFC 9293 3.4.1). */
  private initSendSpace(iss: number, tsOffset: number): void {
    this.iss = iss;
    this.sndUna = iss;
    this.sndNxt = iss;
    this.sndMax = iss;
    this.recoverSeq = iss;
    this.tsOffset = tsOffset;
  }

  /** The peer's SYN (passive open, or SYN-SENT): receive space, options and the initial send window. */
  synReceived(seg: TcpSegment, now: number): void {
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.lastRecvAt = now;
    this.negotiate(seg);
    this.sndWnd = seg.window; // RFC 7323 2.2: the window in a SYN is never scaled
    this.maxSndWnd = this.sndWnd;
    this.sndWl1 = seg.seq;
    this.sndWl2 = seg.ack;
  }

  /** RFC 7323 / RFC 2018 / RFC 9293 3.7.1: options from the peer's SYN. */
  private negotiate(seg: TcpSegment): void {
    this.tsEnabled = this.cfg.timestamps && seg.tsPresent;
    if (this.tsEnabled) this.tsRecent = seg.tsVal;
    this.sackEnabled = this.cfg.sack && seg.sackPermitted;
    if (this.cfg.windowScaling && seg.windowScale >= 0) {
      this.sndWndShift = seg.windowScale;
    } else {
      this.sndWndShift = 0;
      this.rcvWndShift = 0; // RFC 7323 2.2: scaling only when both sides sent the option
    }
    const peerMss = seg.mss > 0 ? seg.mss : this.family === 4 ? DEFAULT_MSS_V4 : DEFAULT_MSS_V6;
    // Timestamps take 12 bytes of every segment (RFC 7323 leaves MSS unchanged; we fit in the MTU).
    this.mss = Math.max(64, Math.min(this.ourMss, peerMss) - (this.tsEnabled ? 12 : 0));
    this.cc.mss = this.mss;
    this.cc.cwnd = this.cfg.initialWindowSegments * this.mss;
  }

  /**
   * SEGMENT ARRIVES (RFC 9293 3.10.7, in input.ts): one segment addressed to this connection. Returns
   * 'reopen' when a SYN may start a new connection on this 4-tuple (RFC 6191), otherwise undefined.
   */
  process(seg: TcpSegment, now: number): 'reopen' | undefined {
    return segmentArrives(this, seg, now);
  }

  /** Earliest time this socket needs attention. */
  deadline(): number {
    return Math.min(this.timer.expiresAt, this.ackTimer.expiresAt);
  }

  // ------------------------------------------------------------------------------------------------
  // Timers
  // ------------------------------------------------------------------------------------------------

  /** Call when now >= deadline(): runs expired timers. Output follows in dispatch(). */
  onTimer(now: number): void {
    if (this.ackTimer.expiresAt <= now) {
      clearTimer(this.ackTimer);
      if (this.ackState !== ACK_NONE) this.ackState = ACK_NOW;
    }
    if (this.timer.expiresAt > now) return;
    const kind = this.timer.kind;
    clearTimer(this.timer);
    switch (kind) {
      case 'idle':
      case 'delayed-ack':
        break;
      case 'retransmit':
      case 'syn-received':
        onRetransmitTimeout(this, now);
        break;
      case 'tail-loss-probe':
        // RFC 8985 7.3: one probe (new data, else the last segment); the RTO still stands behind it.
        this.tlpPending = true;
        this.tlpDone = true;
        armTimer(this.timer, 'retransmit', now + this.rtt.rto);
        break;
      case 'zero-window-probe':
        // RFC 9293 3.8.6.1: probe; the peer's ACK carries its current window. Backoff like RTO, no give-up
        // while the peer answers (probes resets when any segment arrives).
        if (++this.probes > this.cfg.maxRetransmits) {
          this.fail('ETIMEDOUT');
          return;
        }
        this.probePending = true;
        this.rtt.backoff();
        armTimer(this.timer, 'zero-window-probe', now + this.rtt.rto);
        break;
      case 'keepalive': {
        const idleUntil = this.lastRecvAt + this.keepaliveIdleMs;
        if (this.probes === 0 && idleUntil > now) {
          armTimer(this.timer, 'keepalive', idleUntil);
          break;
        }
        if (this.probes >= this.cfg.keepaliveCount) {
          this.fail('ETIMEDOUT');
          return;
        }
        this.probes++;
        this.probePending = true;
        armTimer(this.timer, 'keepalive', now + this.cfg.keepaliveIntervalMs);
        break;
      }
      case 'time-wait':
      case 'fin-wait-2':
        this.setState('closed');
        return;
      default: {
        const never: never = kind;
        throw new Error(`unhandled timer ${never}`);
      }
    }
    this.host.markDirty(this);
  }

  /** Used by output.ts: the ack state constants. */
  static readonly ACK_NONE = ACK_NONE;
  static readonly ACK_DELAYED = ACK_DELAYED;
  static readonly ACK_NOW = ACK_NOW;

  /** Converts an assembler stream offset to a sequence number (for SACK blocks). */
  streamToSeq(streamOffset: number): number {
    return seqAdd(this.rcvNxt, streamOffset - this.rcvStream);
  }
}
