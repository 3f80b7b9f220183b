import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearerOf, tokenMatches } from '../api/auth.js';

export const ADMIN_COOKIE = 'pinnokio_admin';

/** The cookie value is derived from the service token (HMAC), so the token itself is never stored in the browser. */
export function adminCookieValue(serviceToken: string): string {
  return createHmac('sha256', serviceToken).update('pinnokio-admin-cookie-v1').digest('base64url');
}

export function cookieOf(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

/** True when a request (HTTP or socket handshake) carries a valid admin cookie. */
export function hasAdminCookie(cookieHeader: string | undefined, serviceToken: string | undefined): boolean {
  if (!serviceToken) return false;
  return tokenMatches(cookieOf(cookieHeader, ADMIN_COOKIE), adminCookieValue(serviceToken));
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * GET /admin: a small status page (behind the service token) that connects with socket.io and
 * lists events as they arrive. Auth: `Authorization: Bearer`, the admin cookie, or `?token=` once
 * (answered with a redirect that drops the token from the URL and sets an HttpOnly, SameSite=Strict
 * cookie). The page's socket authenticates with that cookie: the token is never in the HTML or JS.
 */
export function registerAdminPage(app: FastifyInstance, o: { serviceToken: string | undefined; socketPath: string }): void {
  app.get('/admin', async (req: FastifyRequest, reply: FastifyReply) => {
    const q = req.query as Record<string, string | undefined>;
    const expected = o.serviceToken;
    if (!expected) return reply.code(401).type('text/plain').send('service token is not configured on this instance (LISTENERS_SERVICE_TOKEN)');
    const cookie = hasAdminCookie(req.headers.cookie, expected);
    const bearer = bearerOf(req.headers.authorization);
    if (q.token !== undefined) {
      if (!tokenMatches(q.token, expected)) return reply.code(403).type('text/plain').send('invalid service token');
      const secure = req.protocol === 'https' ? '; Secure' : '';
      const rest = new URLSearchParams(Object.entries(q).filter(([k, v]) => k !== 'token' && v !== undefined) as Array<[string, string]>).toString();
      return reply
        .header('set-cookie', `${ADMIN_COOKIE}=${adminCookieValue(expected)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200${secure}`)
        .header('cache-control', 'no-store')
        .redirect(`/admin${rest ? `?${rest}` : ''}`, 303);
    }
    if (!cookie && !bearer) return reply.code(401).type('text/plain').send('missing service token: open /admin?token=<service token> or send Authorization: Bearer');
    if (!cookie && !tokenMatches(bearer, expected)) return reply.code(403).type('text/plain').send('invalid service token');
    const nonce = randomBytes(16).toString('base64');
    return reply
      .header('content-security-policy', `default-src 'none'; script-src 'self' 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`)
      .header('cache-control', 'no-store')
      .header('referrer-policy', 'no-referrer')
      .type('text/html; charset=utf-8')
      .send(adminHtml({ nonce, uid: q.uid ?? '', socketPath: o.socketPath, bearerOnly: !cookie }));
  });
}

function adminHtml(p: { nonce: string; uid: string; socketPath: string; bearerOnly: boolean }): string {
  const n = esc(p.nonce);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pinnokio realtime status</title>
<style nonce="${n}">
body{font:14px system-ui,sans-serif;margin:1.5rem;color:#222}
#state{display:inline-block;padding:.1rem .5rem;border-radius:.3rem;background:#eee}
#state.connected{background:#c8f0c8}#state.error{background:#f6c8c8}
#events{list-style:none;padding:0}#events li{border-bottom:1px solid #ddd;padding:.3rem 0;font-family:monospace;white-space:pre-wrap}
</style></head><body>
<h1>Realtime gateway</h1>
<form id="f"><label>uid <input id="uid" name="uid" value="${esc(p.uid)}" required></label> <button>connect</button></form>
<p>state: <span id="state">idle</span> <span id="detail"></span> · events: <span id="count">0</span></p>
${p.bearerOnly ? '<p>Opened with a bearer header: open <code>/admin?token=…</code> once to get the cookie the socket needs.</p>' : ''}
<ul id="events"></ul>
<script src="${esc(p.socketPath)}/socket.io.min.js"></script>
<script nonce="${n}">
(function(){
  var socket=null,count=0;
  var st=document.getElementById('state'),detail=document.getElementById('detail'),list=document.getElementById('events');
  function state(s,d){st.textContent=s;st.className=s;detail.textContent=d||'';}
  function connect(uid){
    if(socket){socket.close();}
    count=0;list.textContent='';document.getElementById('count').textContent='0';
    state('connecting');
    socket=io({path:${JSON.stringify(p.socketPath)},transports:['websocket','polling'],auth:{uid:uid},withCredentials:true});
    socket.on('connect',function(){state('connected','uid '+uid);});
    socket.on('disconnect',function(r){state('disconnected',r);});
    socket.on('connect_error',function(e){state('error',e.message+(e.data&&e.data.code?' ('+e.data.code+')':''));});
    socket.on('event',function(ev){
      count++;document.getElementById('count').textContent=String(count);
      var li=document.createElement('li');li.className='event';li.dataset.type=ev.type;li.dataset.eventId=ev.event_id;
      li.textContent=ev.timestamp+'  '+ev.type+'  '+JSON.stringify(ev.payload);
      list.insertBefore(li,list.firstChild);
    });
  }
  document.getElementById('f').addEventListener('submit',function(e){e.preventDefault();var u=document.getElementById('uid').value.trim();if(u){history.replaceState(null,'','?uid='+encodeURIComponent(u));connect(u);}});
  var initial=document.getElementById('uid').value.trim();if(initial)connect(initial);
})();
</script></body></html>`;
}
