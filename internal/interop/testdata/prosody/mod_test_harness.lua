-- mod_test_harness: loaded into every Prosody that Starling's tests start
-- (internal/interop/prosody.go writes this file next to the generated
-- configuration and enables it). It does two things:
--
-- 1. Lifeline. The test process holds the write end of a pipe that is
--    Prosody's standard input and never writes to it. When the test process
--    ends, however it ends (even killed by a test timeout, when no cleanup
--    runs), the pipe reaches end of file and Prosody shuts itself down, so
--    no server outlives its test.
--
-- 2. One log line per authenticated server-to-server stream, for tests to
--    assert which method was used:
--
--      s2s-established direction=outgoing local=a.test remote=b.test
--        mechanism=EXTERNAL encrypted=true chain=valid identity=valid
--
--    (on one line). mechanism is what the s2s-authenticated event carried:
--    "EXTERNAL" (XEP-0178) or "dialback" (XEP-0220); chain and identity are
--    Prosody's verdicts on the peer's certificate ("valid", "invalid", or
--    "none" when not checked).

module:set_global();

local server = require "net.server";
local prosody = _G.prosody;

local lifeline = server.watchfd(0, function (watch)
	-- Nothing is ever written to the pipe: readable means end of file (or an
	-- error), either way the test process is gone.
	local data = io.stdin:read(1);
	if data then return; end
	watch:close();
	module:log("warn", "Standard input closed: the test process is gone, shutting down");
	prosody.main_thread:run(function ()
		prosody.unlock_globals();
		prosody.shutdown("Test process gone", 1);
		prosody.lock_globals();
	end);
end);

function module.unload()
	if lifeline then lifeline:close(); end
end

function module.add_host(module)
	-- Runs before mod_s2s's own handler (priority -1), which may still refuse
	-- the stream: the line is written only once the stream is established.
	module:hook("s2s-authenticated", function (event)
		event.session.test_harness_auth = { host = event.host, mechanism = event.mechanism };
	end, 1000);

	local function established(event)
		local session = event.session;
		local auth = session.test_harness_auth or {};
		local local_host, remote_host;
		if session.direction == "incoming" then
			local_host, remote_host = session.to_host, auth.host or session.from_host;
		else
			local_host, remote_host = session.from_host, auth.host or session.to_host;
		end
		module:log("info", "s2s-established direction=%s local=%s remote=%s mechanism=%s encrypted=%s chain=%s identity=%s",
			tostring(session.direction), tostring(local_host), tostring(remote_host),
			tostring(auth.mechanism or "none"), tostring(session.secure and true or false),
			tostring(session.cert_chain_status or "none"), tostring(session.cert_identity_status or "none"));
	end
	module:hook("s2sin-established", established);
	module:hook("s2sout-established", established);
end
