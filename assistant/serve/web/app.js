"use strict";
// The page: hold to talk, a picture from the camera (or a chosen file), answers streamed and spoken.
// Nothing is stored in the browser; the conversation lives in this tab's session on the service.

const $ = (id) => document.getElementById(id);
const talk = $("talk"), live = $("live"), player = $("player"), preview = $("preview");
const token = new URLSearchParams(location.search).get("token") || "";
let sessionId = null;
let recorder = null, recording = false, busy = null, microphone = null, camera = null, chosenPicture = null;
const speechQueue = [];

// The page's words come from the service in its language (strings.<lang>.json); {name} marks a value.
const t = (key, values = {}) => STRINGS[key].replace(/\{(\w+)\}/g, (_, name) => values[name]);

// -- announcements and sounds ------------------------------------------------------------------------

function announce(text) {
  live.textContent = "";
  // A fresh text node, a moment later, so screen readers announce a repeated message too.
  setTimeout(() => { live.textContent = text; }, 50);
}

let sounds = null;
function tone(frequency, seconds) {
  try {
    sounds = sounds || new AudioContext();
    const oscillator = sounds.createOscillator(), gain = sounds.createGain();
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0.15, sounds.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, sounds.currentTime + seconds);
    oscillator.connect(gain).connect(sounds.destination);
    oscillator.start();
    oscillator.stop(sounds.currentTime + seconds);
  } catch (error) { /* no sound device: the words still come */ }
}
const cues = {
  listening: () => tone(880, 0.12),
  thinking: () => { tone(660, 0.08); setTimeout(() => tone(660, 0.08), 150); },
  error: () => tone(220, 0.3),
};

function setState(state, words) {
  talk.dataset.state = state;
  talk.textContent = {
    idle: t($("toggle-mode").checked ? "press_to_talk" : "hold_to_talk"),
    listening: t($("toggle-mode").checked ? "listening_press" : "listening_let_go"),
    thinking: t("thinking"),
  }[state];
  if (cues[state]) cues[state]();
  if (words) announce(words);
}

// -- speech ------------------------------------------------------------------------------------------

function speak(base64Wav) {
  const bytes = Uint8Array.from(atob(base64Wav), (c) => c.charCodeAt(0));
  speechQueue.push(URL.createObjectURL(new Blob([bytes], { type: "audio/wav" })));
  if (player.paused && !player.dataset.playing) playNext();
}

function playNext() {
  const url = speechQueue.shift();
  if (!url) { delete player.dataset.playing; return; }
  player.dataset.playing = "yes";
  player.src = url;
  player.playbackRate = 1;
  player.play().catch(() => { delete player.dataset.playing; });
}
player.addEventListener("ended", () => { URL.revokeObjectURL(player.src); playNext(); });
player.addEventListener("playing", () => { player.dataset.played = "yes"; });

function silence() {
  speechQueue.length = 0;
  player.pause();
  delete player.dataset.playing;
}

function stopSpeaking() {
  silence();
  if (busy) busy.abort();
  if (!stopLive()) announce(t("stopped"));
}

// -- live text: a picture a second; new text is spoken as it comes into view --------------------------

const LIVE_EVERY_MS = 1000, LIVE_QUIET_MS = 60000;
let liveReading = null;

function startLive() {
  if (liveReading) return;
  if (!camera && !chosenPicture) { cues.error(); announce(t("live_needs_camera")); return; }
  liveReading = { first: true, sending: false, lastNew: Date.now() };
  liveReading.timer = setInterval(liveStep, LIVE_EVERY_MS);
  $("read-live").setAttribute("aria-pressed", "true");
  $("read-live").textContent = t("stop_live");
  announce(t("live_started"));
}

// Returns whether live reading was on.
function stopLive(words) {
  if (!liveReading) return false;
  clearInterval(liveReading.timer);
  liveReading = null;
  $("read-live").setAttribute("aria-pressed", "false");
  $("read-live").textContent = t("read_live");
  announce(words || t("live_stopped"));
  return true;
}

async function liveStep() {
  const state = liveReading;
  if (!state || state.sending) return;
  if (Date.now() - state.lastNew > LIVE_QUIET_MS) { stopLive(t("live_quiet")); return; }
  const picture = await grabPicture();
  if (!picture || liveReading !== state) return;
  sessionId = sessionId || newSessionId();
  const form = new FormData();
  form.append("image", picture, "picture.jpg");
  form.append("speech_rate", $("rate").value);
  if (state.first) form.append("restart", "true");
  state.sending = true;
  try {
    const response = await call(`/api/sessions/${sessionId}/live`, { method: "POST", body: form });
    const reply = await response.json();
    if (!response.ok) { cues.error(); stopLive(t("sorry", { error: reply.error })); return; }
    state.first = false;
    if (reply.text && liveReading === state) {
      state.lastNew = Date.now();
      if (reply.replaces) silence();
      announce([reply.text.replaceAll("\n", ". "), reply.hint].filter(Boolean).join(" "));
      if (reply.audio_base64) speak(reply.audio_base64);
    }
  } catch (error) {
    cues.error();
    stopLive(t("live_no_answer"));
  } finally {
    state.sending = false;
  }
}

$("read-live").addEventListener("click", () => { if (!stopLive()) startLive(); });

// -- the picture -------------------------------------------------------------------------------------

async function startCamera() {
  try {
    camera = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 } } });
    preview.srcObject = camera;
    preview.dataset.live = "yes";
    await preview.play();
    $("picture-state").textContent = t("camera_on");
  } catch (error) {
    $("picture-state").textContent = t("no_camera");
  }
}

function grabPicture() {
  if (chosenPicture) return Promise.resolve(chosenPicture);
  if (!camera || !preview.videoWidth) return Promise.resolve(null);
  const canvas = document.createElement("canvas");
  canvas.width = preview.videoWidth;
  canvas.height = preview.videoHeight;
  canvas.getContext("2d").drawImage(preview, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
}

$("photo").addEventListener("change", () => {
  chosenPicture = $("photo").files[0] || null;
  $("clear-photo").hidden = !chosenPicture;
  if (chosenPicture) $("picture-state").textContent = t("using_picture", { name: chosenPicture.name });
});
$("clear-photo").addEventListener("click", () => {
  chosenPicture = null;
  $("photo").value = "";
  $("clear-photo").hidden = true;
  $("picture-state").textContent = t(camera ? "using_camera" : "no_camera_short");
  $("photo").focus();
});

// -- talking -----------------------------------------------------------------------------------------

async function startTalking() {
  if (recording) return;
  silence();
  if (busy) busy.abort();
  stopLive();
  try {
    microphone = microphone || await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    cues.error();
    announce(t("no_microphone"));
    return;
  }
  const parts = [];
  recorder = new MediaRecorder(microphone);
  recorder.ondataavailable = (event) => { if (event.data.size) parts.push(event.data); };
  recorder.onstop = () => send({ audio: new Blob(parts, { type: recorder.mimeType }) });
  recorder.start();
  recording = true;
  setState("listening", t("listening_said"));
  sendPictureEarly();
}

// The picture at the press goes ahead, so that the service takes it in while the question is spoken.
async function sendPictureEarly() {
  const picture = await grabPicture();
  if (!picture) return;
  sessionId = sessionId || newSessionId();
  const form = new FormData();
  form.append("image", picture, "picture.jpg");
  call(`/api/sessions/${sessionId}/frame`, { method: "POST", body: form }).catch(() => {});
}

function newSessionId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function stopTalking() {
  if (!recording) return;
  recording = false;
  recorder.stop();
}

function isTextField(element) {
  return element && (element.isContentEditable || ["INPUT", "SELECT", "TEXTAREA"].includes(element.tagName)
    && !["checkbox", "radio", "file"].includes(element.type)) || false;
}
function spaceTalks(element) {
  // Space talks from the page or the Talk button; on other controls it keeps its usual meaning.
  return element === document.body || element === talk || !element || !element.closest("button, input, select, textarea, label");
}

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") { stopSpeaking(); return; }
  if (event.code !== "Space" || isTextField(event.target) || !spaceTalks(event.target)) return;
  event.preventDefault();
  if (event.repeat) return;
  if ($("toggle-mode").checked) { recording ? stopTalking() : startTalking(); } else { startTalking(); }
});
document.addEventListener("keyup", (event) => {
  if (event.code !== "Space" || isTextField(event.target) || !spaceTalks(event.target)) return;
  event.preventDefault();
  if (!$("toggle-mode").checked) stopTalking();
});
talk.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  if ($("toggle-mode").checked && recording) stopTalking(); else startTalking();
});
for (const name of ["pointerup", "pointercancel", "pointerleave"]) {
  talk.addEventListener(name, () => { if (!$("toggle-mode").checked) stopTalking(); });
}
talk.addEventListener("click", (event) => {
  // Enter, or a screen reader's activation, has no press to hold: it starts, and the next one sends.
  if (event.detail !== 0) return;
  recording ? stopTalking() : startTalking();
});
$("toggle-mode").addEventListener("change", () => setState("idle"));
$("stop").addEventListener("click", stopSpeaking);
$("type-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("question").value.trim();
  if (!text) { announce(t("type_first")); $("question").focus(); return; }
  $("question").value = "";
  send({ text });
});
$("new-conversation").addEventListener("click", async () => {
  if (sessionId) await call(`/api/sessions/${sessionId}/reset`, { method: "POST" }).catch(() => null);
  sessionId = null;
  $("history").replaceChildren();
  $("history-empty").hidden = false;
  announce(t("new_started"));
});

// -- the service -------------------------------------------------------------------------------------

function call(path, options) {
  const headers = Object.assign({}, options.headers || {});
  if (token) headers.Authorization = `Bearer ${token}`;
  headers["Accept-Language"] = STRINGS.lang;  // the service's errors, in the page's language
  return fetch(path, Object.assign({}, options, { headers }));
}

async function send(question) {
  const form = new FormData();
  if (question.audio) form.append("audio", question.audio, "question.webm");
  if (question.text) form.append("text", question.text);
  const picture = await grabPicture();
  if (picture) form.append("image", picture, "picture.jpg");
  if (sessionId) form.append("session_id", sessionId);
  form.append("speech_rate", $("rate").value);
  form.append("detail", document.querySelector("input[name=detail]:checked").value);
  setState("thinking", t("thinking_said"));
  busy = new AbortController();
  const turn = { question: question.text || "", answer: [] };
  try {
    const response = await call("/api/ask", {
      method: "POST", body: form, headers: { Accept: "text/event-stream" }, signal: busy.signal,
    });
    if (!response.ok || !response.body) {
      const reply = await response.json().catch(() => ({ error: t("no_answer") }));
      throw new Error(reply.error);
    }
    await readEvents(response.body, (name, data) => onEvent(name, data, turn));
  } catch (error) {
    if (error.name !== "AbortError") {
      cues.error();
      announce(t("sorry", { error: error.message }));
    }
  } finally {
    busy = null;
    setState("idle");
  }
}

function onEvent(name, data, turn) {
  if (name === "transcript") {
    turn.question = data.text;
    announce(t("you_asked", { text: data.text }));
  } else if (name === "sentence") {
    if (data.audio_base64) speak(data.audio_base64);
  } else if (name === "done" || name === "error") {
    sessionId = data.session_id || sessionId;
    if (name === "error") cues.error();
    const answer = data.error || data.answer || "";
    addToHistory(data.transcript || turn.question, answer);
    announce(answer);
    if (data.command === "live_text") startLive();
  }
}

async function readEvents(body, handle) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const name = (block.match(/^event: (.*)$/m) || [])[1];
      const data = (block.match(/^data: (.*)$/m) || [])[1];
      if (name && data) handle(name, JSON.parse(data));
    }
  }
}

function addToHistory(question, answer) {
  const item = document.createElement("li");
  const heading = document.createElement("h3");
  heading.textContent = t("you", { text: question || t("not_heard") });
  const reply = document.createElement("p");
  reply.textContent = t("assistant", { text: answer });
  item.append(heading, reply);
  $("history").append(item);
  $("history-empty").hidden = true;
}

// -- start -------------------------------------------------------------------------------------------

// The language links keep the token, so that the page in the other language still works.
for (const language of ["en", "zh"]) {
  const address = new URLSearchParams(location.search);
  address.set("lang", language);
  $(`in-${language}`).href = `?${address}`;
}

(async () => {
  if (TOKEN_REQUIRED && !token) {
    announce(t("needs_token"));
    return;
  }
  setState("idle");
  await startCamera();
  announce(t("ready"));
})();
