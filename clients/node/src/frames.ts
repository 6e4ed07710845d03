/**
 * The sidecar's stdout: event lines (JSON, each ended by `\n`) interleaved with binary
 * data frames (see docs/PROTOCOL.md, "Binary data frames"). A frame is a header —
 * marker 0x00, stream (1 stdout, 2 stderr), id length (u16 BE), payload length (u32 BE),
 * the id — then the payload. An event line always starts with `{`, so the first byte tells
 * the two apart.
 */
import type { Readable } from "node:stream";

/** First byte of a binary data frame (an event line always starts with `{`). */
const FRAME_MARKER = 0x00;
/** Fixed part of a frame header: marker, stream, id length (u16), payload length (u32). */
const FRAME_HEADER_BYTES = 8;
/** Longest child id (bytes), so the longest frame header is 8 + 256 bytes. */
const MAX_ID_BYTES = 256;
/** `max_frame_bytes` when `hello` did not give one. */
const DEFAULT_MAX_FRAME_BYTES = 1048576;

/** Where the parsed pieces go. */
export interface FrameSink {
  /** A complete, non-empty event line (without its `\n`). */
  line(line: Buffer): void;
  /** The stream a frame of child `id` goes to (`stream` 1: stdout, 2: stderr), or null to drop it. */
  target(stream: 1 | 2, id: string): Readable | null;
  /** A piece of the current frame's payload, for its target. */
  payload(target: Readable, bytes: Buffer): void;
  /** The bytes are neither an event line nor a valid frame; nothing more will be parsed. */
  corrupt(what: string): void;
}

/**
 * Splits the sidecar's stdout into event lines and data frames. A frame's payload is
 * handed on piece by piece as it arrives, as slices of the read buffers: no copy, no wait
 * for the whole frame.
 */
export class FrameParser {
  readonly #sink: FrameSink;
  readonly #maxFrameBytes: () => number;
  /** Pieces of an event line not yet ended by `\n`. */
  #pending: Buffer[] = [];
  /** The start of a frame header split across reads, or null. */
  #head: Buffer | null = null;
  /** Payload bytes of the current frame still to come, and where they go (null: dropped). */
  #frameLeft = 0;
  #frameTarget: Readable | null = null;
  #corrupt = false;

  constructor(sink: FrameSink, maxFrameBytes: () => number) {
    this.#sink = sink;
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** The rest of the current frame, if it goes to `s`, is dropped (its child is gone). */
  forget(s: Readable): void {
    if (this.#frameTarget === s) this.#frameTarget = null;
  }

  /** Parses one read of the sidecar's stdout. */
  push(chunk: Buffer): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end && !this.#corrupt) {
      if (this.#frameLeft > 0) {
        const n = Math.min(this.#frameLeft, end - pos);
        if (this.#frameTarget) this.#sink.payload(this.#frameTarget, chunk.subarray(pos, pos + n));
        this.#frameLeft -= n;
        pos += n;
      } else if (this.#head !== null) {
        pos = this.#continueHead(chunk, pos);
      } else if (this.#pending.length > 0) {
        const nl = chunk.indexOf(10, pos);
        if (nl === -1) {
          this.#pending.push(chunk.subarray(pos));
          return;
        }
        this.#pending.push(chunk.subarray(pos, nl));
        const line = Buffer.concat(this.#pending);
        this.#pending = [];
        pos = nl + 1;
        if (line.length > 0) this.#sink.line(line);
      } else if (chunk[pos] === FRAME_MARKER) {
        const avail = end - pos;
        if (avail >= FRAME_HEADER_BYTES && avail >= FRAME_HEADER_BYTES + chunk.readUInt16BE(pos + 2)) {
          pos = this.#startFrame(chunk, pos);
        } else {
          // The rest of this read is the start of a header.
          this.#head = Buffer.from(chunk.subarray(pos));
          pos = end;
        }
      } else {
        const nl = chunk.indexOf(10, pos);
        if (nl === -1) {
          this.#pending.push(chunk.subarray(pos));
          return;
        }
        if (nl > pos) this.#sink.line(chunk.subarray(pos, nl));
        pos = nl + 1;
      }
    }
  }

  /** Completes a header split across reads (at most 8 + 256 bytes); returns the new offset. */
  #continueHead(chunk: Buffer, pos: number): number {
    const head = this.#head!;
    const have = head.length;
    const need = have < FRAME_HEADER_BYTES ? FRAME_HEADER_BYTES : FRAME_HEADER_BYTES + head.readUInt16BE(2);
    const take = Math.min(need - have, chunk.length - pos);
    const grown = Buffer.concat([head, chunk.subarray(pos, pos + take)]);
    this.#head = grown;
    pos += take;
    if (grown.length < FRAME_HEADER_BYTES) return pos;
    const idLen = grown.readUInt16BE(2);
    if (idLen === 0 || idLen > MAX_ID_BYTES) {
      this.#fail(`a data frame header with an id length of ${idLen}`);
      return chunk.length;
    }
    if (grown.length === FRAME_HEADER_BYTES + idLen) {
      this.#head = null;
      this.#startFrame(grown, 0);
    }
    return pos;
  }

  /** Reads the complete frame header at `buf[off..]`; returns the offset after it. */
  #startFrame(buf: Buffer, off: number): number {
    const stream = buf[off + 1];
    const idLen = buf.readUInt16BE(off + 2);
    const len = buf.readUInt32BE(off + 4);
    const max = this.#maxFrameBytes() || DEFAULT_MAX_FRAME_BYTES;
    if ((stream !== 1 && stream !== 2) || idLen === 0 || idLen > MAX_ID_BYTES || len === 0 || len > max) {
      this.#fail(`a malformed data frame header (stream ${stream}, id length ${idLen}, payload length ${len})`);
      return buf.length;
    }
    const id = buf.toString("utf8", off + FRAME_HEADER_BYTES, off + FRAME_HEADER_BYTES + idLen);
    this.#frameTarget = this.#sink.target(stream, id);
    this.#frameLeft = len;
    return off + FRAME_HEADER_BYTES + idLen;
  }

  #fail(what: string): void {
    this.#corrupt = true;
    this.#sink.corrupt(what);
  }
}
