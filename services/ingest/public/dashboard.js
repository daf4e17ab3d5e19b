// crm-engine dashboard: draws the charts of a page with uPlot from the JSON the server wrote
// beside them (<div class="chart" data-chart="ID"> + <script type="application/json" id="ID">).
// Everything else on the pages works without this script.
'use strict';

(function () {
  function readData(id) {
    var element = document.getElementById(id);
    if (!element) return null;
    try {
      return JSON.parse(element.textContent || 'null');
    } catch {
      return null;
    }
  }

  function drawChart(container) {
    var data = readData(container.getAttribute('data-chart'));
    if (!data || typeof uPlot === 'undefined') return;
    var height = 260;
    var width = Math.max(240, container.clientWidth - 16);
    var options = {
      width: width,
      height: height,
      // One day alone: a day either side, so the point is not squeezed against the axis.
      scales: { x: data.x.length === 1 ? { time: true, range: [data.x[0] - 86400, data.x[0] + 86400] } : { time: true } },
      axes: [{}, { size: 50 }],
      legend: { live: true },
      series: [{ label: 'Day' }].concat(
        data.series.map(function (series) {
          return { label: series.label, stroke: series.color, width: 2, points: { show: data.x.length < 40 } };
        }),
      ),
    };
    var plot = new uPlot(options, [data.x].concat(data.series.map(function (series) { return series.values; })), container);
    container.setAttribute('data-drawn', 'true');
    if (typeof ResizeObserver !== 'undefined') {
      var lastWidth = width;
      new ResizeObserver(function () {
        var next = Math.max(240, container.clientWidth - 16);
        if (next !== lastWidth) {
          lastWidth = next;
          plot.setSize({ width: next, height: height });
        }
      }).observe(container);
    }
  }

  function start() {
    var charts = document.querySelectorAll('[data-chart]');
    for (var i = 0; i < charts.length; i++) drawChart(charts[i]);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
