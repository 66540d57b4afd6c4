// @ts-check
/* A short beep (WebAudio, no sound files) when something needs attention. Browsers start audio
 * only after a user gesture: call unlockAudio() from one (a click, a key, a send); until then
 * beep() is silent. Carried verbatim by beckon.js (tests/browser/shared_copies.mjs). */

/** @type {AudioContext | null} */
var audio = null;

/** Create or resume the audio context; call from a user gesture. */
export function unlockAudio() {
  try {
    if (!audio) {
      var Context = window.AudioContext || /** @type {any} */ (window).webkitAudioContext;
      if (Context) audio = new Context();
    }
    if (audio && audio.state === 'suspended') audio.resume();
  } catch (e) { audio = null; }
}

/**
 * One beep (880 Hz), or two rising ones (a new chat waiting, a chat transferred here).
 * @param {boolean} [twice]
 */
export function beep(twice) {
  if (!audio || audio.state !== 'running') return;
  tone(audio, 0, 880);
  if (twice) tone(audio, 0.18, 1175);
}

/**
 * A tone of a quarter second, at seconds from now, fading in and out so it does not click.
 * @param {AudioContext} context
 * @param {number} at
 * @param {number} frequency
 */
function tone(context, at, frequency) {
  var oscillator = context.createOscillator(), gain = context.createGain(), start = context.currentTime + at;
  oscillator.frequency.value = frequency;
  gain.gain.setValueAtTime(0.0001, start);
  gain.gain.exponentialRampToValueAtTime(0.18, start + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.22);
  oscillator.connect(gain);
  gain.connect(context.destination);
  oscillator.start(start);
  oscillator.stop(start + 0.25);
}
