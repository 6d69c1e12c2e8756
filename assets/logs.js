// Cell renderers of the Logs page's grid. Text goes into React text nodes only: log content is never
// parsed as HTML, so "<script>" in a line shows as those characters.
var dagfuncs = (window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {});

function logsEscape(term) {
    return term.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

dagfuncs.LogsHighlight = function (props) {
    var text = props.value == null ? "" : String(props.value);
    var firstLine = text.split("\n", 1)[0];
    var terms = (props.terms || []).filter(function (t) { return t && t.length; });
    if (!terms.length) {
        return React.createElement("span", { title: text.length > 200 ? null : text }, firstLine);
    }
    terms.sort(function (a, b) { return b.length - a.length; });
    var pattern = new RegExp(terms.map(logsEscape).join("|"), "gi");
    var parts = [];
    var last = 0;
    var found;
    var key = 0;
    while ((found = pattern.exec(firstLine)) !== null) {
        if (found[0].length === 0) { pattern.lastIndex++; continue; }
        if (found.index > last) { parts.push(firstLine.slice(last, found.index)); }
        parts.push(React.createElement("mark", { key: "m" + key++ }, found[0]));
        last = found.index + found[0].length;
    }
    parts.push(firstLine.slice(last));
    return React.createElement("span", null, parts);
};

dagfuncs.LogsLevel = function (props) {
    var level = props.value == null ? "" : String(props.value);
    return React.createElement("span", { className: "badge logs-level logs-level-" + level }, level);
};

dagfuncs.LogsTime = function (props) {
    var ms = props.data ? props.data.ts_ms : null;
    var local = ms == null ? "" : new Date(ms).toLocaleString() + " (local)";
    return React.createElement("span", { title: local }, props.value);
};
