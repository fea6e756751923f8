/* consentgate runtime. The server decides; this script mirrors its decision in the page (it
   activates what is granted without a reload) and asks the server to change it. It never
   writes the consent cookie: that cookie is HttpOnly and set by the server. No dependencies. */
(function () {
  "use strict";
  var d = document, w = window, P = "data-consentgate-", state = {}, opener = null, clicked, edited;
  try {
    state = JSON.parse(d.getElementById("consentgate-state").textContent) || {};
  } catch (e) {
    // No state block: nothing is granted, and choices still post to the default prefix.
  }
  // Category names of other consent tools' markup, read as the server reads them
  // (consentgate.html.rules; a test keeps the two tables equal).
  var SYNONYMS = {
    necessary: "essential strictly-necessary strictly_necessary required",
    preferences: "preference functional functionality",
    analytics: "statistics statistic performance measurement",
    marketing: "advertising ads targeting social social-media"
  };
  // OneTrust's default groups C0001..C0005.
  var ONETRUST = ["necessary", "analytics", "preferences", "marketing", "marketing"];
  var ALIAS = {}, RANK = { necessary: 0, preferences: 1, marketing: 3 };
  Object.keys(SYNONYMS).forEach(function (k) {
    (k + " " + SYNONYMS[k]).split(" ").forEach(function (a) { ALIAS[a] = k; });
  });
  var INERT = 'script[type="text/plain"]';
  var MARKUP = "[data-category],[data-cookieconsent],[data-name],[data-service],[class*=optanon-category-]";
  var SCRIPTS = "script[" + P + "blocked]," + MARKUP.replace(/\[/g, INERT + "[");

  function all(selector, root) {
    return [].slice.call((root || d).querySelectorAll(selector));
  }
  function attr(el, name) {
    return el.getAttribute(name);
  }
  function own(o, k) {
    return {}.hasOwnProperty.call(o || {}, k);
  }
  // Our endpoints, on this document's own origin: a relative URL in fetch() or location.href
  // would follow the page's <base href>, which may name another origin (a CDN, the canonical
  // host of a page served elsewhere).
  function endpoint(path) {
    return location.origin + (state.prefix || "/_consentgate") + path;
  }
  // One of our endpoints' JSON answers (a POST when there is a body); rejected with the response.
  function ask(path, body) {
    return fetch(endpoint(path), {
      method: body && "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: body && JSON.stringify(body)
    }).then(function (r) {
      if (!r.ok) throw r;
      return r.json();
    });
  }

  // The site's own consent markup, as Rules.classify_markup reads it: [service, category].
  function name(raw) {
    var k = raw.trim().toLowerCase();
    return own(state.categories, k) ? k : own(ALIAS, k) ? ALIAS[k] : null;
  }
  function worst(names) {
    // Several categories named: the most sensitive decides, as on the server.
    return names.filter(Boolean).sort(function (a, b) {
      return (own(RANK, b) ? RANK[b] : 2) - (own(RANK, a) ? RANK[a] : 2);
    })[0];
  }
  function markup(el) {
    var service = attr(el, "data-service"), v = attr(el, "data-category"), category = v && name(v);
    var onetrust = /optanon-category((?:-[A-Za-z0-9]+)+)/.exec(attr(el, "class") || "");
    v = attr(el, "data-cookieconsent");
    if (!category && v !== null) category = worst(v.split(",").map(name));
    if (!category && onetrust) {
      category = worst(onetrust[1].split("-").map(function (g) {
        return /^c000[1-5]$/i.test(g) ? ONETRUST[g.slice(4) - 1] : null;
      }));
    }
    // Klaro names a service; its category is the one the preference centre lists it under.
    return [service || (category ? null : attr(el, "data-name")), category];
  }
  function categoryOf(service) {
    var entry = all(".cg-svc").filter(function (el) { return attr(el, P + "service") === service; })[0];
    var section = entry && entry.closest(".cg-cat"), box = section && section.querySelector('input[name="category"]');
    return box ? box.value : null;
  }

  // Same rule as Consent.allows_service on the server: an explicit service choice wins,
  // otherwise the category must be granted.
  function allowed(el) {
    var site = markup(el), s = state.services || {}, service = attr(el, P + "service") || site[0];
    var category = attr(el, P + "category") || site[1] || (service && categoryOf(service));
    // A host no service claims counts as the category the server names (UI.unknown_category);
    // consent markup naming a category the policy lacks is never granted.
    if (category === "unknown" && !el.matches(MARKUP)) category = state.unknown;
    if (service && own(s, service)) return s[service] === true;
    return !!category && (category === "necessary" || (state.categories || {})[category] === true);
  }

  // A script only runs when the element is created by script, so each one is rebuilt with its
  // original attributes and the page's CSP nonce (which browsers hide from getAttribute).
  // A script loader's own type (WP Rocket, LiteSpeed, Perfmatters, Partytown, Rocket Loader):
  // its loader may have run already, so the script runs as the classic script it stands for,
  // from the URL the loader would have taken (src, or its own data-*-src).
  var LOADER = /^(rocketlazyloadscript|litespeed\/javascript|pmdelayedscript|text\/partytown|text\/rocketscript|[0-9a-f]+-text\/javascript)$/i;
  function loaderSrc(el) {
    var a = [].filter.call(el.attributes, function (a) {
      return /^data-.*-src$/.test(a.name) && a.name.indexOf(P);
    })[0];
    return a && a.value;
  }
  function revive(old) {
    var s = d.createElement("script"), src, nonce, wrote = old.cgWritten;
    var type = wrote ? wrote[0] : attr(old, P + "type") || attr(old, "data-type");
    var loader = !!type && LOADER.test(type.split(";")[0].trim());
    [].forEach.call(old.attributes, function (a) {
      if (a.name !== "type" && a.name !== "nonce" && a.name.indexOf(P)) s.setAttribute(a.name, a.value);
    });
    if (type && !loader) s.setAttribute("type", type);
    src = attr(old, P + "src") || attr(old, "data-src") || (loader && loaderSrc(old));
    if (src) s.setAttribute("src", src);
    if (attr(old, P + "integrity")) s.setAttribute("integrity", attr(old, P + "integrity"));
    // A written script keeps the nonce it was written with, if any: the page's CSP decides, as
    // it does for what a tag writes while the page is parsed.
    nonce = wrote ? wrote[1] : state.nonce;
    if (nonce) s.setAttribute("nonce", nonce);
    // Created scripts default to async; only the originally async ones may overtake others.
    s.async = old.hasAttribute(P + "async") || old.hasAttribute("async");
    if (!s.hasAttribute("src")) s.text = old.text;
    return s;
  }
  // A tag written for the parser writes into the page (document.write). Once the page is
  // parsed, a real write would replace the whole document, banner included: what a revived
  // classic script writes is collected and parsed in right after it, and the scripts in it
  // run next, in order, as the parser would have run them. Other writes stay native.
  ["write", "writeln"].forEach(function (m) {
    var real = d[m];
    d[m] = function () {
      var s = d.currentScript;
      if (!s || !s.cgWrites) return real.apply(d, arguments);
      s.cgWrites.push([].join.call(arguments, "") + (m === "write" ? "" : "\n"));
    };
  });
  function written(s, queue) {
    var html = (s.cgWrites || []).join(""), range = d.createRange(), scripts;
    s.cgWrites = null;
    if (!html || !s.parentNode) return;
    range.selectNode(s);
    html = range.createContextualFragment(html);
    // Inert until their turn: each is revived from the queue.
    scripts = all("script", html);
    scripts.forEach(function (el) {
      el.cgWritten = [attr(el, "type"), attr(el, "nonce")];
      el.type = "text/plain";
    });
    s.parentNode.insertBefore(html, s.nextSibling);
    queue.unshift.apply(queue, scripts);
  }
  // A revived script runs after the page was parsed, often after it loaded: what it hooks on
  // DOMContentLoaded or on the window's load (window.onload too) would never run, and a tag
  // that waits for the page to load before it measures would measure nothing on the page
  // where the visitor said yes. What a revived script hooks on an event that already fired
  // runs once, in a task of its own, as it would have on a page parsed with consent. Hooked on
  // the first revival only; the wrapper calls whatever EventTarget's addEventListener
  // is then (frameworks such as zone.js patch it later).
  // (The runtime is deferred: it runs before DOMContentLoaded, with readyState "interactive".)
  var seen, parsed = d.readyState === "complete", done = [];
  d.addEventListener("DOMContentLoaded", function () { parsed = true; });
  function fired(type, t) {
    return type === "DOMContentLoaded" ? parsed : type === "load" && t === w && d.readyState === "complete";
  }
  // Once per listener: a "ready" helper hooked on both events (unhooking itself when called)
  // runs once, as it does on a parsed page.
  function later(t, type, fn) {
    setTimeout(function () {
      if (fn && done.indexOf(fn) < 0) {
        done.push(fn);
        typeof fn === "function" ? fn.call(t, new Event(type)) : fn.handleEvent(new Event(type));
      }
    });
  }
  // window.onload is read once the scripts revived together have run, so tags that chain onto
  // each other (`var old = window.onload; window.onload = function () { old(); ... }`) run
  // once each; never when the page had a handler of its own, which ran at load (a chain
  // would run it again).
  function onload() {
    setTimeout(function () {
      if (!seen && fired("load", w)) later(w, "load", w.onload);
      seen = w.onload;
    });
  }
  function hook() {
    if (seen !== undefined) return;
    seen = w.onload;
    [d, w].forEach(function (t) {
      var mine = own(t, "addEventListener") && t.addEventListener;
      t.addEventListener = function (type, fn) {
        var s = d.currentScript, o = this || t;
        (mine || EventTarget.prototype.addEventListener).apply(o, arguments);
        if (s && s.cgRevived && fired(type, o)) later(o, type, fn);
      };
    });
  }
  // In document order: an external classic or module script is awaited (load or error) before
  // the next one, as the parser would have; async ones and inline ones do not wait.
  function run(queue) {
    var old = queue.shift(), s, type, wait;
    if (!old) return;
    if (!old.parentNode) return run(queue);
    hook();
    s = revive(old);
    s.cgRevived = true;
    type = attr(s, "type");
    wait = s.hasAttribute("src") && !s.async && (!type || /^module$|script$/i.test(type));
    if (!s.async && (!type || /script$/i.test(type))) s.cgWrites = [];
    if (wait) s.onload = s.onerror = function () { onload(); written(s, queue); run(queue); };
    else if (s.hasAttribute("src")) s.addEventListener("load", onload);
    old.parentNode.replaceChild(s, old);
    if (!wait) {
      onload();
      written(s, queue);
      run(queue);
    }
  }
  // Every attribute the rewriter moved aside goes back under its own name (all but its own
  // markers, an inert lazy attribute, an SVG xlink:href and a refresh's content): URLs (data-src
  // and -srcset are a lazy loader's, kept apart from the src the site already had) and event
  // handlers (onload, onclick...; one whose event has fired already does not fire again).
  function restore(el) {
    [].slice.call(el.attributes).forEach(function (a) {
      var name = a.name.split(P)[1];
      if (name && !/^(b|c|x|se|in)/.test(name)) {
        el.setAttribute(name, a.value);
        el.removeAttribute(a.name);
      }
    });
    el.removeAttribute(P + "blocked");
    // A media element picks its <source> only when told to.
    if (el.tagName === "SOURCE" && el.parentNode && el.parentNode.load) el.parentNode.load();
  }
  function activate() {
    var queue = all(SCRIPTS).filter(function (el) {
      return !el.cgQueued && allowed(el) && (el.cgQueued = true);
    });
    all("[" + P + "blocked]:not(script)").forEach(function (el) {
      if (allowed(el)) restore(el);
    });
    all("[" + P + "placeholder]").forEach(function (el) {
      // Focus on its button goes to what loads in its place (the frame before it), not to <body>.
      var frame = el.previousElementSibling || el.parentNode;
      if (!allowed(el)) return;
      if (el.contains(d.activeElement)) {
        // (-1, focusable by script, where it was not focusable.)
        frame.tabIndex = frame.tabIndex;
        frame.focus();
      }
      el.remove();
    });
    // A frame or image the site parked in data-src behind its consent markup: the consent tool
    // it was written for would load it once granted, so this one does (once).
    all("[data-src]:not(script),[data-srcset]:not(script)").forEach(function (el) {
      if (el.cgLoaded || !el.matches(MARKUP) || !allowed(el)) return;
      el.cgLoaded = true;
      ["src", "srcset"].forEach(function (name) {
        var value = attr(el, "data-" + name);
        if (value !== null && value !== attr(el, name)) el.setAttribute(name, value);
      });
    });
    run(queue);
  }

  // Code that already ran cannot be unloaded: a narrower choice needs a fresh page, which the
  // server renders with the withdrawn services blocked again.
  function withdrawn(before, after) {
    var k, bc = before.categories || {}, ac = after.categories || {};
    var bs = before.services || {}, as = after.services || {};
    var everything = Object.keys(ac).every(function (c) { return ac[c]; });
    for (k in bc) if (bc[k] && !ac[k]) return true;
    for (k in bs) if (bs[k] && !as[k] && !everything) return true;
    for (k in as) if (as[k] === false && bs[k] !== false) return true;
  }

  function banner() {
    return d.querySelector("[" + P + "banner]");
  }
  function centre() {
    return d.querySelector("[" + P + "centre]");
  }
  function remove(el) {
    if (el) el.remove();
  }
  function sync(root) {
    var s = state.services || {}, id = root.querySelector("[" + P + "id]"), date = root.querySelector("[" + P + "date]");
    all('input[name="category"]', root).forEach(function (i) {
      if (!i.disabled) i.checked = (state.categories || {})[i.value] === true;
    });
    all('input[name="service"][type="checkbox"]', root).forEach(function (i) {
      i.checked = s[i.value] === true;
    });
    if (state.exists) {
      if (id) id.textContent = state.consentId;
      if (date) date.textContent = new Date(state.issuedAt * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";
    }
  }
  function preferences() {
    location.href = endpoint("/preferences?next=") + encodeURIComponent(location.pathname + location.search);
  }
  function show() {
    var c = centre();
    // Without a centre in the page, or <dialog> (Safari before 15.4), the preferences page.
    if (!c || !c.showModal) return preferences();
    if (c.open) return;
    opener = d.activeElement;
    // The choice stored now, not the one this page was served with: another tab may have
    // changed it, and a save shows and states the whole choice. A withdrawal made there means
    // this page must go (what ran cannot be unloaded): to the preferences page, which shows it.
    refresh(preferences).then(function (leaving) {
      if (leaving || c.open) return;
      sync(c);
      c.showModal();
      c.querySelector('[tabindex="-1"]').focus();
    });
  }
  function hide() {
    var c = centre();
    // (A closed one ignores it.)
    if (c) c.close();
  }
  function refocus() {
    var target = d.contains(opener) ? opener : d.querySelector("[data-cg-reopen]:not([hidden])");
    opener = null;
    if (target) target.focus();
  }

  function apply(next, leave) {
    // Grants without a decision ("Load content" before any choice) answer no question: the
    // banner stays and still asks.
    var before = state, b = banner(), c = centre(), reopen = d.querySelector("[data-cg-reopen]");
    var live = d.querySelector("[" + P + "status]"), wasInBanner = b && b.contains(d.activeElement);
    // The consent endpoint cannot know the nonce of the page it did not serve: keep the page's.
    if (!next.nonce) next.nonce = before.nonce;
    state = next;
    all("[" + P + "error]").forEach(function (el) { el.hidden = true; });
    if (next.exists) {
      remove(b);
      remove(d.querySelector("[" + P + "backdrop]"));
      if (reopen) reopen.hidden = false;
    }
    if (c) sync(c);
    hide();
    if (wasInBanner && reopen) reopen.focus();
    if (live) live.textContent = attr(live, P + "saved");
    if (next.consentMode) {
      w.dataLayer = w.dataLayer || [];
      (w.gtag || function () { w.dataLayer.push(arguments); })("consent", "update", next.consentMode);
    }
    // Then the on("change") listeners (window's, after the page's own on document); one that
    // throws is reported and stops no other, as with any event listener.
    d.dispatchEvent(new CustomEvent("consentgate:change", { detail: next, bubbles: true }));
    // An enforcing consent CSP was built for the old choice: only a new page gets the new one.
    // But a reload never costs the visitor what they typed into the page: that page stays, and
    // runs nothing more that is withdrawn (Google's tags and the page's listeners were told
    // above); the next page it leads to is served under the new choice.
    var reload = !edited && (withdrawn(before, next) || next.csp === "enforce");
    if (reload) leave ? leave() : location.reload();
    else activate();
    return reload;
  }

  function submit(form, submitter) {
    // A button names the action (the centre's three, the banner's two); a placeholder saves.
    var layer = attr(form, P + "form"), action = (submitter && submitter.name === "action" && submitter.value) || "save";
    var categories = [], services = {}, k, body;
    if (layer === "preferences" && state.exists) layer = "reopen";
    body = { action: action, ui: layer + "." + action, csrf: state.csrf || form.elements.csrf.value };
    if (action === "save") {
      // The centre states the whole choice; a placeholder posts its one grant, which the server
      // adds to the choice stored by then (another tab may have changed it).
      if (layer !== "embed") for (k in state.services || {}) services[k] = state.services[k];
      all("input", form).forEach(function (i) {
        var on = i.type !== "checkbox" || i.checked;
        if (i.disabled) return;
        if (i.name === "category" && on) categories.push(i.value);
        if (i.name === "service") {
          if (on) services[i.value] = true;
          else delete services[i.value];
        }
      });
      body.categories = categories;
      body.services = services;
    }
    if (navigator.globalPrivacyControl === true) body.gpc = true;
    ask("/consent", body)
      .catch(function (r) {
        // Refused as stale (a page left open past its token's age): once more with a fresh one.
        if (r.status !== 403) throw r;
        return ask("/state").then(function (fresh) {
          body.csrf = fresh.csrf;
          return ask("/consent", body);
        });
      })
      .then(function (data) {
        if (!data || !data.state) throw data;
        return data.state;
      })
      .then(apply, function () {
        // The choice was not stored: keep the banner and say so (a placeholder's form is
        // apart from it: its button is in the placeholder).
        var error = (submitter || form).closest(".cg").querySelector("[" + P + "error]");
        if (error) error.hidden = false;
      });
  }

  // Both listen while the event goes down (capture): a page script that stops it on its way
  // back up (ASP.NET and jQuery pages wrap the body in their own handlers) cannot stop a
  // choice from being made in place.
  d.addEventListener("submit", function (e) {
    if (!attr(e.target, P + "form") || !w.fetch) return;
    e.preventDefault();
    submit(e.target, e.submitter || (clicked && clicked.form === e.target && clicked));
  }, true);
  // What the visitor typed or picked in the page's own fields (the runtime's own are ".cg").
  d.addEventListener("input", function (e) {
    if (!e.target.closest(".cg")) edited = 1;
  }, true);
  d.addEventListener("click", function (e) {
    var t = e.target.closest && e.target.closest("[" + P + "open],[" + P + "close]");
    // Safari before 15.4 names no submitter: the button clicked is the one ("Accept all").
    clicked = e.target.closest && e.target.closest("button");
    // A modified click on a link keeps its usual meaning (new tab, new window).
    if (!t || e.ctrlKey || e.metaKey || e.shiftKey) return;
    e.preventDefault();
    if (t.hasAttribute(P + "close")) hide();
    else show();
  }, true);

  function init() {
    var c = centre(), b = banner(), heading = b && b.querySelector('[tabindex="-1"]'), text = b && b.querySelector(".cg-text");
    if (c) c.addEventListener("close", refocus);
    all("[" + P + "open]").forEach(function (el) { el.setAttribute("aria-haspopup", "dialog"); });
    activate();
    // On a small screen the notice scrolls inside the banner: keyboard users must reach it too.
    if (text && text.scrollHeight > text.clientHeight) text.tabIndex = 0;
    // Keyboard and screen-reader users meet the choice first; nothing is trapped.
    if (heading && d.activeElement === d.body) heading.focus({ preventScroll: true });
  }

  w.consentgate = {
    get state() {
      return state;
    },
    show: show,
    hide: hide,
    on: function (name, fn) {
      if (name === "change" && typeof fn === "function") {
        w.addEventListener("consentgate:change", function (e) { fn(e.detail); });
      }
    }
  };
  // A page restored from the back/forward cache, or a tab the visitor comes back to, shows the
  // state it was left in: a choice made on another page since then is applied here too (a
  // withdrawal reloads it, unless the visitor typed into it: see apply). The promise says true
  // when the page reloads.
  function choice(s) {
    return JSON.stringify([s.consentId, s.categories, s.services]);
  }
  function refresh(leave) {
    var asked = state;
    return ask("/state").then(function (next) {
      // (Not over a choice made here while the request was out.)
      if (state === asked && choice(next) !== choice(state)) return apply(next, leave);
    }, function () {});
  }
  // (A page restored from the cache becomes visible again too.)
  d.addEventListener("visibilitychange", function () {
    if (!d.hidden) refresh();
  });
  if (d.readyState === "loading") d.addEventListener("DOMContentLoaded", init);
  else init();
})();
