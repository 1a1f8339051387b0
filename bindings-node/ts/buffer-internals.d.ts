// Node's Buffer has these fast, long-standing (if undocumented in the types) methods.
declare global {
  interface Buffer {
    latin1Slice(start: number, end: number): string;
    utf8Slice(start: number, end: number): string;
    utf8Write(value: string, offset: number, length: number): number;
  }
}
export {};
