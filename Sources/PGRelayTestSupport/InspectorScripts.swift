import PGRelayCore

/// What tests of the inspector page run in it (through ``Browser/evaluate(_:)``): its rows as
/// data, a wait with a deadline, and a way to set its controls and apply them.
public enum InspectorScripts {
    /// Polls `condition` (JavaScript, evaluated in the page) every 50 ms until it is truthy, and
    /// answers it; fails with `what` after `seconds`. Prefixed to each script.
    public static let waiting = """
        const $ = (id) => document.getElementById(id);
        const rows = () => [...document.querySelectorAll("#rows tr")].map((tr) => ({ id: Number(tr.dataset.id), op: tr.dataset.op, table: tr.dataset.table, text: tr.cells[4].textContent }));
        const until = async (what, condition, seconds = 45) => {
          const end = Date.now() + seconds * 1000;
          for (;;) {
            const value = condition();
            if (value) return value;
            if (Date.now() > end) throw new Error("timed out waiting for " + what + "; state " + $("state").textContent + ", error " + $("error").textContent + ", streams " + window.pgrelayInspector.streams.map((s) => s.url() + (s.stopped ? " (stopped)" : "")).join(" "));
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        };
        const apply = ({ table = "", filter = "", since = "", events = null } = {}) => {
          $("table").value = table; $("filter").value = filter; $("since").value = since;
          for (const box of document.querySelectorAll("#events input")) box.checked = events === null || events.includes(box.value);
          $("apply").click();
        };
        const run = (body) => body().then(done, (error) => done({ failed: String(error && error.message || error) }));

        """
}
