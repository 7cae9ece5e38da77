// The call view (视频会商): the page's camera to the other party (WebRTC, signalled through
// the server's socket) and to the server's recorder (全过程记录). The clerk rings and offers;
// the reviewer answers. Every text comes from the page (data-t-*), translated by the server.
"use strict";
(() => {
  const root = document.getElementById("call");
  if (!root) return;
  const side = root.dataset.side;
  const text = (key) => root.dataset["t" + key[0].toUpperCase() + key.slice(1)] || key;
  const status = (message) => { document.getElementById("status").textContent = message; };
  const hangupButton = document.getElementById("hangup");
  let socket = null, peer = null, recorder = null, local = null, servers = [];
  let chain = Promise.resolve(), pending = [], ended = false;

  const send = (message) => { if (socket && socket.readyState === 1) socket.send(JSON.stringify(message)); };

  function newPeer() {
    peer = new RTCPeerConnection({ iceServers: servers });
    local.getTracks().forEach((track) => peer.addTrack(track, local));
    peer.onicecandidate = (e) => send({ type: "candidate", to: "peer", candidate: e.candidate ? e.candidate.toJSON() : null });
    peer.ontrack = (e) => {
      const remote = document.getElementById("remote");
      if (remote.srcObject !== e.streams[0]) remote.srcObject = e.streams[0];
    };
    peer.onconnectionstatechange = () => {
      if (peer && peer.connectionState === "connected") {
        status(text("incall"));
        document.getElementById("state-name").textContent = text("incall");
      }
    };
  }

  function gathered(connection) {
    return new Promise((done) => {
      if (connection.iceGatheringState === "complete") return done();
      connection.addEventListener("icegatheringstatechange", () => {
        if (connection.iceGatheringState === "complete") done();
      });
      setTimeout(done, 3000);
    });
  }

  async function recordOnServer() {
    recorder = new RTCPeerConnection({ iceServers: servers });
    local.getVideoTracks().forEach((track) => recorder.addTrack(track, local));
    await recorder.setLocalDescription(await recorder.createOffer());
    await gathered(recorder);
    send({ type: "offer", to: "recorder", sdp: recorder.localDescription.sdp });
  }

  async function offer() {
    await peer.setLocalDescription(await peer.createOffer());
    send({ type: "offer", to: "peer", sdp: peer.localDescription.sdp });
  }

  async function remoteDescription(description) {
    await peer.setRemoteDescription(description);
    for (const candidate of pending.splice(0)) await peer.addIceCandidate(candidate);
  }

  async function handle(m) {
    switch (m.type) {
      case "welcome":
        servers = m.ice_servers || [];
        newPeer();
        hangupButton.disabled = false;
        if (m.record) recordOnServer();
        if (side === "clerk" && !m.peer_present) status(text("ringing"));
        else status(text("connecting"));
        if (side === "clerk" && m.peer_present) await offer();
        break;
      case "peer-joined":
        status(text("connecting"));
        if (side === "clerk") await offer();
        break;
      case "offer":
        await remoteDescription({ type: "offer", sdp: m.sdp });
        await peer.setLocalDescription(await peer.createAnswer());
        send({ type: "answer", to: "peer", sdp: peer.localDescription.sdp });
        break;
      case "answer":
        if (m.from === "recorder") await recorder.setRemoteDescription({ type: "answer", sdp: m.sdp });
        else await remoteDescription({ type: "answer", sdp: m.sdp });
        break;
      case "candidate":
        if (!m.candidate) break;
        if (peer.remoteDescription) await peer.addIceCandidate(m.candidate);
        else pending.push(m.candidate);
        break;
      case "peer-left":
      case "ended":
        finish(text("ended"));
        break;
    }
  }

  function finish(message) {
    if (ended) return;
    ended = true;
    status(message);
    document.getElementById("state-name").textContent = text("ended");
    for (const connection of [peer, recorder]) if (connection) connection.close();
    if (local) local.getTracks().forEach((track) => track.stop());
    document.querySelectorAll(".actions button").forEach((b) => { b.disabled = true; });
  }

  async function join() {
    document.querySelectorAll("#ring, #accept").forEach((b) => { b.disabled = true; });
    try {
      local = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    } catch (error) {
      status(text("camera") + " " + error.name);
      return;
    }
    document.getElementById("local").srcObject = local;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}${root.dataset.signal}`);
    socket.onmessage = (e) => {
      const message = JSON.parse(e.data);
      chain = chain.then(() => handle(message)).catch((error) => console.error(error));
    };
    socket.onclose = (e) => {
      if (e.code === 1000 || e.code === 1005) finish(text("ended"));
      else finish(text("refused") + " " + (e.reason || e.code));
    };
  }

  for (const id of ["ring", "accept"]) {
    const button = document.getElementById(id);
    if (button) button.addEventListener("click", join);
  }
  hangupButton && hangupButton.addEventListener("click", () => { send({ type: "hangup" }); finish(text("ended")); });

  const form = document.getElementById("verify-form");
  if (form) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const response = await fetch(form.action, { method: "POST", body: new FormData(form), redirect: "manual" });
      if (response.type === "opaqueredirect" || response.ok) {
        const item = document.createElement("li");
        item.textContent = form.material_code.value + " · " + text("verified");
        document.getElementById("verifications").appendChild(item);
        form.reset();
      } else {
        status((await response.text()).slice(0, 200));
      }
    });
  }
})();
