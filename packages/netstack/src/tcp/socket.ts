// SPDX-License-Identifier: Apache-2.0
// The TCP connection state machine.
//
// Read first: RFC 9293 (TCP, especially 3.3.2 the state diagram and 3.10.7 "SEGMENT ARRIVES", which the
// order of checks in process() follows), RFC 5961 (challenge ACKs for RST/SYN/ACK), RFC 7323 (window scale,
// timestamps, PAWS), RFC 2018 (SACK), RFC 6298 (RTO), RFC 5681 + RFC 6582 (congestion control, NewReno).
//
// Shape (after smoltcp's tcp.rs): one `state` field changed only by setState(); input in process(); output in
// output.ts (dispatch), driven by the interface's poll; timers are two tagged values (timers.ts). The core is
// told the time (`now`, in ms) and never reads a clock. Nothing here allocates per segment.
import type { IpAddress } from '../wire/ip-address.js';
import { TcpFlag, type TcpSegment } from '../wire/tcp.js';
import { Assembler } from './assembler.js';
import { DEFAULT_MSS_V4, DEFAULT_MSS_V6, IDLE_RELEASE_MAX, type TcpConfig } from './config.js';
import { NewReno } from './congestion.js';
import { onDupAck, onNewAck, onRetransmitTimeout } from './recovery.js';
import { RingBuffer } from './ring-buffer.js';
import { RttEstimator } from './rtt.js';
import { Scoreboard } from './scoreboard.js';
import { seqAdd, seqDiff, seqGt, seqInRange, seqLe, seqLt } from './seq.js';
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
  private rcvStream = 0;

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

  private ackNow(): void {
    this.ackState = ACK_NOW;
    this.host.markDirty(this);
  }

  private challengeAck(now: number): void {
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
  private synReceived(seg: TcpSegment, now: number): void {
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

  // ------------------------------------------------------------------------------------------------
  // SEGMENT ARRIVES (RFC 9293 3.10.7)
  // ------------------------------------------------------------------------------------------------

  /**
   * Processes one segment addressed to this connection. Returns 'reopen' when a SYN may start a new
   * connection on this 4-tuple (TIME-WAIT assassination avoided per RFC 6191), otherwise undefined.
   */
  process(seg: TcpSegment, now: number): 'reopen' | undefined {
    const f = seg.flags;
    switch (this.state) {
      case 'closed':
      case 'listen':
        return undefined; // not in the connection table; the interface answers with RST
      case 'syn-sent':
        this.processSynSent(seg, now);
        return undefined;
      case 'time-wait':
        // RFC 6191: a new SYN with a higher timestamp (or sequence number) may reuse the 4-tuple.
        if (f & TcpFlag.SYN && !(f & TcpFlag.ACK) && !(f & TcpFlag.RST)) {
          const newer =
            this.tsEnabled && seg.tsPresent ? seqGt(seg.tsVal, this.tsRecent) : seqGt(seg.seq, this.rcvNxt);
          if (newer) {
            this.setState('closed');
            return 'reopen';
          }
        }
        break;
      default:
        break;
    }
    this.lastRecvAt = now;
    this.probes = 0;

    // SYN-RECEIVED: a retransmitted SYN means our SYN-ACK was lost; send it again.
    if (this.state === 'syn-received' && f & TcpFlag.SYN && !(f & TcpFlag.ACK) && seg.seq === this.irs) {
      this.sndNxt = this.iss;
      this.host.markDirty(this);
      return undefined;
    }

    // RFC 7323 5.3 PAWS: an old timestamp marks an old duplicate.
    if (this.tsEnabled && seg.tsPresent && !(f & TcpFlag.RST) && seqLt(seg.tsVal, this.tsRecent)) {
      this.ackNow();
      return undefined;
    }

    // first: sequence number acceptability (RFC 9293 3.10.7.4 table).
    const segLen = seg.segLen;
    const wnd = this.rcvWnd;
    let acceptable: boolean;
    if (segLen === 0) {
      acceptable =
        wnd === 0 ? seg.seq === this.rcvNxt : seqInRange(seg.seq, this.rcvNxt, seqAdd(this.rcvNxt, wnd));
    } else {
      acceptable =
        wnd > 0 &&
        (seqInRange(seg.seq, this.rcvNxt, seqAdd(this.rcvNxt, wnd)) ||
          seqInRange(seqAdd(seg.seq, segLen - 1), this.rcvNxt, seqAdd(this.rcvNxt, wnd)));
    }
    let ackOnly = false;
    if (!acceptable) {
      if (f & TcpFlag.RST) return undefined;
      this.ackNow();
      // TIME-WAIT: a retransmitted FIN (necessarily below RCV.NXT) is ACKed and restarts the 2*MSL timeout.
      if (this.state === 'time-wait' && f & TcpFlag.FIN) {
        this.enterTimeWait(now);
        this.host.schedule(this, this.deadline());
        return undefined;
      }
      // RFC 2883: a duplicate segment is reported as a D-SACK block so the sender can undo (Eifel-like).
      if (seg.payloadLen > 0 && seqLe(seqAdd(seg.seq, seg.payloadLen), this.rcvNxt)) {
        this.reportDsack(seg.seq, seqAdd(seg.seq, seg.payloadLen));
      }
      // "special allowance should be made to accept valid ACKs" when our window is zero.
      if (!(wnd === 0 && seg.seq === this.rcvNxt && f & TcpFlag.ACK)) return undefined;
      ackOnly = true;
    }

    // second: RST (RFC 5961 3.2: only an exact RCV.NXT match resets, others get a challenge ACK).
    if (f & TcpFlag.RST) {
      if (seg.seq !== this.rcvNxt) {
        this.challengeAck(now);
        return undefined;
      }
      this.onReset();
      return undefined;
    }

    // RFC 9293 3.10.7.4 "timestamps": update TS.Recent for segments at or before the last ACK we sent.
    if (this.tsEnabled && seg.tsPresent && seqLe(seg.seq, this.lastAckSent)) this.tsRecent = seg.tsVal;

    // fourth: SYN in a synchronized state (RFC 5961 4.2): challenge ACK, drop.
    if (f & TcpFlag.SYN) {
      this.challengeAck(now);
      return undefined;
    }

    // fifth: the ACK field.
    if (!(f & TcpFlag.ACK)) return undefined;
    if (!this.processAck(seg, now)) return undefined;
    if (ackOnly || this.isClosed()) return undefined;

    // seventh: segment text.
    if (seg.payloadLen > 0) this.processData(seg);

    // eighth: FIN, only once everything before it has arrived.
    if (f & TcpFlag.FIN && seqAdd(seg.seq, seg.payloadLen) === this.rcvNxt) this.processFin(now);
    this.afterInput(now);
    return undefined;
  }

  /** RFC 9293 3.10.7.3: SYN-SENT. */
  private processSynSent(seg: TcpSegment, now: number): void {
    const f = seg.flags;
    if (f & TcpFlag.ACK) {
      // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless RST) and discard."
      if (seqLe(seg.ack, this.iss) || seqGt(seg.ack, this.sndMax)) {
        if (!(f & TcpFlag.RST)) this.host.sendRstFor(this, seg);
        return;
      }
    }
    if (f & TcpFlag.RST) {
      // Only a RST acknowledging our SYN is believed (RFC 5961 3.2 for SYN-SENT).
      if (f & TcpFlag.ACK) this.fail('ECONNREFUSED');
      return;
    }
    if (!(f & TcpFlag.SYN)) return;
    this.synReceived(seg, now);
    if (f & TcpFlag.ACK) {
      // Our SYN is acknowledged: ESTABLISHED, and ACK their SYN.
      this.sndUna = seg.ack;
      if (seqLt(this.sndNxt, this.sndUna)) this.sndNxt = this.sndUna;
      if (this.tsEnabled && seg.tsEcr !== 0) this.rtt.sample((this.tsNow(now) - seg.tsEcr) >>> 0);
      else if (this.retransmits === 0) this.rtt.sample(now - this.lastSendAt);
      this.rtt.resetBackoff();
      this.retransmits = 0;
      clearTimer(this.timer);
      this.setState('established');
      this.emit(TcpEvent.Connected | TcpEvent.Writable);
      this.ackNow();
      if (this.closePending) {
        this.closePending = false;
        this.close();
      }
      this.afterInput(now);
    } else {
      // Simultaneous open: SYN-RECEIVED, resend our SYN as a SYN-ACK.
      this.sndNxt = this.iss;
      this.setState('syn-received');
      this.host.markDirty(this);
    }
  }

  /** RST with an exact sequence match (RFC 9293 3.10.7.4 "second", RFC 5961 3.2). */
  private onReset(): void {
    switch (this.state) {
      case 'syn-received':
        // Passive open: "return to LISTEN" means the half-open connection disappears silently.
        if (this.listener) this.setState('closed');
        else this.fail('ECONNREFUSED');
        return;
      case 'established':
      case 'fin-wait-1':
      case 'fin-wait-2':
      case 'close-wait':
        this.fail('ECONNRESET');
        return;
      case 'closing':
      case 'last-ack':
      case 'time-wait':
        this.setState('closed');
        return;
      case 'closed':
      case 'listen':
      case 'syn-sent':
        return;
      default: {
        const never: never = this.state;
        throw new Error(`unhandled state ${never}`);
      }
    }
  }

  /** RFC 9293 3.10.7.4 "fifth". Returns false when the segment must be dropped. */
  private processAck(seg: TcpSegment, now: number): boolean {
    const ack = seg.ack;
    if (this.state === 'syn-received') {
      // "If SND.UNA < SEG.ACK =< SND.NXT, enter ESTABLISHED", else reset.
      if (!(seqGt(ack, this.sndUna) && seqLe(ack, this.sndMax))) {
        this.host.sendRstFor(this, seg);
        return false;
      }
      this.sndUna = ack;
      if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
      this.updateWindow(seg, true);
      if (this.tsEnabled && seg.tsEcr !== 0) this.rtt.sample((this.tsNow(now) - seg.tsEcr) >>> 0);
      this.rtt.resetBackoff();
      this.retransmits = 0;
      clearTimer(this.timer);
      this.setState('established');
      this.host.established(this);
      this.emit(TcpEvent.Connected | TcpEvent.Writable);
      if (this.closePending) {
        this.closePending = false;
        this.close();
      }
      return true;
    }
    // RFC 5961 5.2: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.NXT].
    if (seqGt(ack, this.sndMax)) {
      this.ackNow(); // acknowledges something not yet sent
      return false;
    }
    if (seqLt(ack, seqAdd(this.sndUna, -this.maxSndWnd))) {
      this.challengeAck(now);
      return false;
    }
    const flight = seqDiff(this.sndMax, this.sndUna);
    const ackAdvanced = seqGt(ack, this.sndUna);
    if (ackAdvanced) {
      onNewAck(this, seg, now);
    } else if (ack === this.sndUna) {
      // RFC 5681 2 "duplicate acknowledgment" (window-unchanged check relaxed when SACK blocks came along).
      const wndField = seg.window << this.sndWndShift;
      if (flight > 0 && seg.payloadLen === 0 && !(seg.flags & TcpFlag.FIN)) {
        if (wndField === this.sndWnd || seg.sackCount > 0) onDupAck(this, seg, now);
      }
    }
    this.updateWindow(seg, ackAdvanced);

    switch (this.state) {
      case 'fin-wait-1':
        if (this.finAcked()) {
          this.setState('fin-wait-2');
          // Only an orphaned socket gives up on FIN-WAIT-2 (as Linux): a half-closed one may still be reading.
          if (this.orphaned) armTimer(this.timer, 'fin-wait-2', now + this.cfg.finWait2TimeoutMs);
        }
        break;
      case 'closing':
        if (this.finAcked()) this.enterTimeWait(now);
        break;
      case 'last-ack':
        if (this.finAcked()) {
          this.setState('closed');
          return false;
        }
        break;
      case 'time-wait':
        // Only a retransmitted FIN arrives here: ACK it and restart the 2*MSL timeout.
        if (seg.flags & TcpFlag.FIN) {
          this.ackNow();
          this.enterTimeWait(now);
        }
        return false;
      default:
        break;
    }
    return true;
  }

  private finAcked(): boolean {
    return seqGt(this.sndUna, this.finSeq);
  }

  /**
   * RFC 9293 3.10.7.4 SND.WND update, with Linux's tcp_may_update_window() rule: also take the window from
   * any segment whose ACK advanced SND.UNA. The RFC test (SND.WL1 < SEG.SEQ ...) ignores a retransmitted
   * segment (older SEQ) carrying a newer ACK; keeping the older, larger window then puts our right edge
   * SND.UNA + SND.WND beyond the receiver's, and once its window is zero neither side's segments are
   * acceptable to the other (found by the simulator stress run).
   */
  private updateWindow(seg: TcpSegment, ackAdvanced: boolean): void {
    if (seqLt(seg.ack, this.sndUna)) return;
    if (
      ackAdvanced ||
      seqLt(this.sndWl1, seg.seq) ||
      (this.sndWl1 === seg.seq && seqLe(this.sndWl2, seg.ack))
    ) {
      const wasZero = this.sndWnd === 0;
      this.sndWnd = seg.window << this.sndWndShift;
      if (this.sndWnd > this.maxSndWnd) this.maxSndWnd = this.sndWnd;
      this.sndWl1 = seg.seq;
      this.sndWl2 = seg.ack;
      if (wasZero && this.sndWnd > 0) {
        if (this.timer.kind === 'zero-window-probe') clearTimer(this.timer);
        this.host.markDirty(this);
      }
    }
  }

  /** Queues a D-SACK block [left, right) for the next ACK (only with SACK negotiated). */
  private reportDsack(left: number, right: number): void {
    if (!this.sackEnabled) return;
    this.dsackPending = true;
    this.dsackLeft = left;
    this.dsackRight = right;
  }

  /** RFC 9293 3.10.7.4 "seventh": place text in the receive buffer, in order or out of order. */
  private processData(seg: TcpSegment): void {
    switch (this.state) {
      case 'established':
      case 'fin-wait-1':
      case 'fin-wait-2':
        break;
      default:
        return; // after the peer's FIN no text is accepted
    }
    let off = seqDiff(seg.seq, this.rcvNxt);
    let src = seg.payloadOffset;
    let n = seg.payloadLen;
    if (off < 0) {
      this.reportDsack(seg.seq, this.rcvNxt); // RFC 2883 4.1.2: the duplicated part
      src -= off;
      n += off;
      off = 0;
    }
    const free = this.recvBuf.free;
    if (off + n > free) n = free - off; // trim to the window
    if (n <= 0) {
      this.ackNow();
      return;
    }
    this.recvBuf.writeAt(off, seg.buf, src, n);
    if (off === 0) {
      const end = this.assembler.advance(this.rcvStream + n);
      const k = end - this.rcvStream;
      this.recvBuf.commit(k);
      this.rcvStream = end;
      this.rcvNxt = seqAdd(this.rcvNxt, k);
      this.emit(TcpEvent.Readable);
      if (k > n) {
        this.ackNow(); // RFC 5681 4.2: a segment filling a gap is acknowledged immediately
      } else {
        // RFC 5681 4.2: ACK at least every second full-sized segment, otherwise within delayedAckMs.
        if (n >= this.mss) this.segsUnacked++;
        if (this.segsUnacked >= 2) this.ackNow();
        else if (this.ackState === ACK_NONE) this.ackState = ACK_DELAYED;
      }
    } else {
      // Out of order: keep it if the assembler has room, and send a duplicate ACK with SACK now.
      this.assembler.add(this.rcvStream + off, this.rcvStream + off + n);
      this.ackNow();
    }
  }

  /** RFC 9293 3.10.7.4 "eighth": the peer's FIN. */
  private processFin(now: number): void {
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.rxEnded = true;
    this.emit(TcpEvent.Readable);
    this.ackNow();
    switch (this.state) {
      case 'syn-received':
      case 'established':
        this.setState('close-wait');
        break;
      case 'fin-wait-1':
        if (this.finAcked()) this.enterTimeWait(now);
        else this.setState('closing');
        break;
      case 'fin-wait-2':
        this.enterTimeWait(now);
        break;
      case 'close-wait':
      case 'closing':
      case 'last-ack':
        break; // a retransmitted FIN: the ACK is enough
      case 'time-wait':
        this.enterTimeWait(now);
        break;
      case 'closed':
      case 'listen':
      case 'syn-sent':
        break;
      default: {
        const never: never = this.state;
        throw new Error(`unhandled state ${never}`);
      }
    }
  }

  private enterTimeWait(now: number): void {
    this.setState('time-wait');
    armTimer(this.timer, 'time-wait', now + this.cfg.timeWaitMs);
    this.sendBuf.release();
  }

  /** Schedules output and deadlines after an input or a user call. */
  private afterInput(now: number): void {
    if (this.ackState === ACK_DELAYED && this.ackTimer.kind === 'idle') {
      armTimer(this.ackTimer, 'delayed-ack', now + this.cfg.delayedAckMs);
    }
    if (this.ackState !== ACK_NONE) this.host.markDirty(this);
    this.host.schedule(this, this.deadline());
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
