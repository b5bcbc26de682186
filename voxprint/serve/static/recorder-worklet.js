// Audio thread: copies microphone samples (channels averaged to mono) to the page in blocks of 4096.
class Recorder extends AudioWorkletProcessor {
  constructor() {
    super();
    this.block = new Float32Array(4096);
    this.n = 0;
  }
  process(inputs) {
    const channels = inputs[0];
    if (channels && channels.length) {
      const len = channels[0].length;
      for (let i = 0; i < len; i++) {
        let s = 0;
        for (const ch of channels) s += ch[i];
        this.block[this.n++] = s / channels.length;
        if (this.n === this.block.length) {
          this.port.postMessage(this.block.slice(0));
          this.n = 0;
        }
      }
    }
    return true;
  }
}
registerProcessor("recorder", Recorder);
