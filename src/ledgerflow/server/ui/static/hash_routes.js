// MLflow's clients print links for a hash-routed UI (http://host/#/experiments/2/runs/<id>);
// this UI has real paths, so such a link is sent on to the page it means. Only fixed path
// prefixes are built, from re-encoded segments, so a crafted hash cannot lead off this site.
(function () {
  "use strict";
  var hash = window.location.hash;
  if (hash.indexOf("#/") !== 0) {
    return;
  }
  var route = hash.slice(2).split("?")[0];
  var segments;
  try {
    segments = route.split("/").filter(function (s) { return s !== ""; }).map(decodeURIComponent);
  } catch (malformed) {
    return;
  }
  function path(parts) {
    return "/" + parts.map(encodeURIComponent).join("/");
  }
  var target = null;
  var s = segments;
  if (s[0] === "experiments" && s.length >= 4 && s[2] === "runs") {
    target = path(["runs", s[3]]);
  } else if (s[0] === "experiments" && s.length >= 4 && s[2] === "models") {
    target = path(["logged-models", s[3]]);
  } else if (s[0] === "experiments" && s.length >= 2) {
    target = path(["experiments", s[1]]);
  } else if (s[0] === "experiments") {
    target = "/";
  } else if (s[0] === "models" && s.length >= 4 && s[2] === "versions") {
    target = path(["models", s[1], "versions", s[3]]);
  } else if (s[0] === "models" && s.length >= 2) {
    target = path(["models", s[1]]);
  } else if (s[0] === "models") {
    target = "/models";
  }
  if (target !== null) {
    window.location.replace(target);
  }
})();
