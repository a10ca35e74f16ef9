"use strict";(self.rspackChunkjupyter_futures=self.rspackChunkjupyter_futures||[]).push([[232],{475(r,o,e){var a=e(601),t=e.n(a),n=e(314),p=(e.n(n))()(t());p.push([r.id,`/* jupyter_futures panes and sidebar. Only JupyterLab CSS variables: the theme decides the colours. */

.jf-sidebar,
.jf-pane {
  color: var(--jp-ui-font-color1);
  background: var(--jp-layout-color1);
  font-family: var(--jp-ui-font-family);
  font-size: var(--jp-ui-font-size1);
}

.jf-sidebar {
  display: flex;
  flex-direction: column;
  overflow: auto;
}

.jf-sidebar-header {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 6px;
  padding: 8px;
  border-bottom: var(--jp-border-width, 1px) solid var(--jp-border-color2);
  position: sticky;
  top: 0;
  background: var(--jp-layout-color1);
  z-index: 1;
}

.jf-sidebar-title {
  flex: 1;
  font-weight: 600;
  text-transform: uppercase;
  font-size: var(--jp-ui-font-size0);
  letter-spacing: 0.5px;
  color: var(--jp-ui-font-color1);
}

.jf-button {
  font: inherit;
  font-size: var(--jp-ui-font-size1);
  color: var(--jp-ui-font-color1);
  background: var(--jp-layout-color2);
  border: var(--jp-border-width, 1px) solid var(--jp-border-color1);
  border-radius: var(--jp-border-radius, 2px);
  padding: 2px 8px;
  cursor: pointer;
  white-space: nowrap;
}

.jf-button:hover:not(:disabled) {
  background: var(--jp-layout-color3);
}

.jf-button:disabled {
  opacity: 0.5;
  cursor: default;
}

.jf-button.jf-mod-accept {
  background: var(--jp-brand-color1);
  border-color: var(--jp-brand-color1);
  color: var(--jp-ui-inverse-font-color1, #fff);
}

.jf-button.jf-mod-accept:hover:not(:disabled) {
  background: var(--jp-brand-color0, var(--jp-brand-color1));
}

.jf-button.jf-mod-warn {
  color: var(--jp-error-color1);
  border-color: var(--jp-error-color1);
}

.jf-button.jf-mod-active {
  background: var(--jp-layout-color3);
  border-color: var(--jp-brand-color1);
  box-shadow: inset 0 0 0 1px var(--jp-brand-color1);
}

.jf-icon-button {
  padding: 2px 6px;
}

.jf-input,
.jf-select {
  font: inherit;
  font-size: var(--jp-ui-font-size1);
  color: var(--jp-ui-font-color1);
  background: var(--jp-input-background, var(--jp-layout-color1));
  border: var(--jp-border-width, 1px) solid var(--jp-input-border-color, var(--jp-border-color1));
  border-radius: var(--jp-border-radius, 2px);
  padding: 2px 4px;
  min-width: 0;
}

.jf-input:focus,
.jf-select:focus {
  outline: 1px solid var(--jp-brand-color1);
}

.jf-check {
  display: inline-flex;
  align-items: center;
  gap: 3px;
  white-space: nowrap;
  cursor: pointer;
}

.jf-muted {
  color: var(--jp-ui-font-color2);
}

.jf-error {
  color: var(--jp-error-color1);
}

.jf-banner {
  margin: 8px;
  padding: 8px;
  border-radius: var(--jp-border-radius, 2px);
  border: 1px solid var(--jp-border-color1);
  line-height: 1.4;
}

.jf-banner.jf-mod-error {
  border-color: var(--jp-error-color1);
  background: var(--jp-error-color3, var(--jp-layout-color2));
  color: var(--jp-ui-font-color1);
}

.jf-banner.jf-mod-warn {
  border-color: var(--jp-warn-color1);
  background: var(--jp-warn-color3, var(--jp-layout-color2));
  color: var(--jp-ui-font-color1);
}

.jf-banner code,
.jf-empty code {
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  background: var(--jp-layout-color2);
  padding: 0 3px;
  border-radius: 2px;
}

.jf-empty {
  margin: 16px;
  padding: 16px;
  border: 1px dashed var(--jp-border-color1);
  border-radius: var(--jp-border-radius, 2px);
  color: var(--jp-ui-font-color2);
  line-height: 1.5;
  text-align: center;
}

.jf-empty[hidden],
.jf-banner[hidden],
[hidden] {
  display: none !important;
}

/* Cluster cards */

.jf-cluster-list {
  display: flex;
  flex-direction: column;
  gap: 8px;
  padding: 8px;
}

.jf-cluster {
  border: var(--jp-border-width, 1px) solid var(--jp-border-color1);
  border-radius: 4px;
  padding: 8px;
  background: var(--jp-layout-color1);
  display: flex;
  flex-direction: column;
  gap: 6px;
}

.jf-cluster-head {
  display: flex;
  align-items: center;
  gap: 6px;
}

.jf-cluster-dot {
  width: 8px;
  height: 8px;
  border-radius: 50%;
  background: var(--jp-success-color1);
  flex: none;
}

.jf-status-unreachable .jf-cluster-dot {
  background: var(--jp-error-color1);
}

.jf-cluster-name {
  font-weight: 600;
  font-size: var(--jp-ui-font-size2);
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
  flex: 1;
}

.jf-cluster-madeby,
.jf-badge {
  font-size: var(--jp-ui-font-size0);
  border-radius: 8px;
  padding: 0 6px;
  background: var(--jp-layout-color2);
  color: var(--jp-ui-font-color2);
  white-space: nowrap;
}

.jf-badge {
  background: var(--jp-brand-color1);
  color: var(--jp-ui-inverse-font-color1, #fff);
}

.jf-cluster-address {
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color2);
  user-select: all;
  overflow-wrap: anywhere;
}

.jf-cluster-stats {
  display: flex;
  flex-wrap: wrap;
  gap: 4px 12px;
  color: var(--jp-ui-font-color2);
}

.jf-stat-value {
  color: var(--jp-ui-font-color1);
  font-weight: 600;
  font-variant-numeric: tabular-nums;
}

.jf-scale-controls {
  display: flex;
  flex-direction: column;
  gap: 4px;
}

.jf-scale-row {
  display: flex;
  align-items: center;
  gap: 4px;
  flex-wrap: wrap;
}

.jf-scale-input,
.jf-adapt-min,
.jf-adapt-max {
  width: 4em;
}

.jf-cluster-buttons,
.jf-cluster-panes {
  display: flex;
  flex-wrap: wrap;
  gap: 4px;
  align-items: center;
}

.jf-pane-button {
  font-size: var(--jp-ui-font-size0);
}

.jf-worker-list summary {
  cursor: pointer;
  color: var(--jp-ui-font-color2);
}

.jf-worker-item {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 2px 8px;
  padding: 3px 0 3px 12px;
  border-top: 1px solid var(--jp-border-color3, var(--jp-border-color2));
}

.jf-worker-item-name {
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-ui-font-size0);
  flex: 1 1 100%;
  overflow-wrap: anywhere;
}

.jf-cluster-message:empty {
  display: none;
}

.jf-cluster-message {
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color2);
}

.jf-cluster-message.jf-error {
  color: var(--jp-error-color1);
}

/* New cluster form */

.jf-form-box {
  margin: 8px;
  padding: 8px;
  border: 1px solid var(--jp-brand-color1);
  border-radius: 4px;
}

.jf-form-title {
  font-weight: 600;
  margin-bottom: 6px;
}

.jf-form-fields {
  display: flex;
  flex-direction: column;
  gap: 6px;
}

.jf-form-row {
  display: grid;
  grid-template-columns: 40% 60%;
  align-items: center;
  gap: 2px 6px;
}

.jf-form-row.jf-mod-inline input {
  justify-self: start;
}

.jf-form-help {
  grid-column: 1 / span 2;
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color2);
}

.jf-form-buttons {
  display: flex;
  gap: 6px;
  margin-top: 8px;
}

/* Panes */

.jf-pane-widget {
  overflow: hidden;
  background: var(--jp-layout-color1);
}

.jf-pane {
  display: flex;
  flex-direction: column;
  height: 100%;
  min-height: 0;
  box-sizing: border-box;
}

.jf-pane-header {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 8px;
  padding: 4px 8px;
  border-bottom: 1px solid var(--jp-border-color2);
  flex: none;
}

.jf-pane-toolbar {
  display: flex;
  align-items: center;
  flex-wrap: wrap;
  gap: 6px;
  flex: 1;
}

.jf-pane-title {
  font-weight: 600;
  margin-right: 6px;
}

.jf-pane-connection {
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-warn-color1);
}

.jf-pane-body {
  flex: 1;
  min-height: 0;
  overflow: auto;
  position: relative;
}

.jf-pane[data-state='empty'] .jf-pane-body,
.jf-pane[data-state='gone'] .jf-pane-body {
  flex: 1;
}

.jf-pane.jf-mod-gone .jf-pane-body {
  opacity: 0.5;
}

.jf-pane.jf-mod-gone .jf-empty {
  border-color: var(--jp-warn-color1);
  color: var(--jp-ui-font-color1);
}

.jf-legend {
  display: inline-flex;
  align-items: center;
  gap: 4px;
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color2);
}

.jf-legend-swatch {
  display: inline-block;
  width: 10px;
  height: 10px;
  border-radius: 2px;
}

.jf-legend-mark {
  display: inline-block;
  width: 2px;
  height: 10px;
  background: var(--jp-warn-color1);
}

/* Task stream */

.jf-pane-task-stream .jf-pane-body {
  overflow: hidden;
}

.jf-task-stream-canvas {
  display: block;
  width: 100%;
  height: 100%;
  cursor: grab;
}

.jf-pane[data-state='empty'].jf-pane-task-stream .jf-pane-body {
  flex: 0 0 40px;
}

/* Progress */

.jf-progress-rows {
  display: flex;
  flex-direction: column;
  gap: 6px;
  padding: 8px;
}

.jf-progress-row {
  display: grid;
  grid-template-columns: minmax(80px, 25%) 1fr auto;
  align-items: center;
  gap: 8px;
}

.jf-progress-name {
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
  font-family: var(--jp-code-font-family);
}

.jf-progress-track {
  display: flex;
  height: 14px;
  background: var(--jp-layout-color2);
  border-radius: 3px;
  overflow: hidden;
  border: 1px solid var(--jp-border-color2);
}

.jf-progress-done,
.jf-progress-done-swatch {
  background: var(--jp-brand-color1);
}

.jf-progress-erred {
  background: var(--jp-error-color1);
}

.jf-progress-processing {
  background: repeating-linear-gradient(
    45deg,
    var(--jp-brand-color3, var(--jp-layout-color3)),
    var(--jp-brand-color3, var(--jp-layout-color3)) 4px,
    var(--jp-layout-color3) 4px,
    var(--jp-layout-color3) 8px
  );
}

.jf-progress-done,
.jf-progress-erred,
.jf-progress-processing {
  transition: width 0.2s;
}

.jf-progress-numbers,
.jf-num {
  font-variant-numeric: tabular-nums;
  color: var(--jp-ui-font-color2);
  white-space: nowrap;
}

.jf-progress-row.jf-mod-complete .jf-progress-numbers {
  color: var(--jp-success-color1);
}

/* Workers */

.jf-workers-rows {
  display: flex;
  flex-direction: column;
  padding: 4px 8px;
}

.jf-worker-row {
  display: flex;
  flex-wrap: wrap;
  gap: 4px 16px;
  align-items: center;
  padding: 6px 0;
  border-bottom: 1px solid var(--jp-border-color2);
}

.jf-worker-row > .jf-worker-name {
  flex: 0 0 130px;
}

.jf-worker-row > .jf-worker-metric {
  flex: 1 1 200px;
  min-width: 0;
}

.jf-worker-name {
  display: flex;
  flex-direction: column;
  overflow: hidden;
}

.jf-worker-title {
  font-weight: 600;
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}

.jf-worker-state {
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color2);
}

.jf-mod-paused .jf-worker-state {
  color: var(--jp-warn-color1);
  font-weight: 600;
}

.jf-worker-metric {
  display: grid;
  grid-template-columns: 48px minmax(40px, 1fr) auto;
  grid-template-rows: auto 30px;
  gap: 2px 6px;
  align-items: center;
}

.jf-metric-label {
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color2);
}

.jf-spark {
  grid-column: 1 / span 3;
  width: 100%;
  height: 30px;
}

.jf-cpu-track,
.jf-mem-track {
  position: relative;
  display: flex;
  height: 12px;
  background: var(--jp-layout-color2);
  border: 1px solid var(--jp-border-color2);
  border-radius: 2px;
}

.jf-cpu-fill {
  background: var(--jp-brand-color1);
}

.jf-mem-seg {
  height: 100%;
}

.jf-mem-managed {
  background: var(--jp-success-color1);
}

.jf-mem-unmanaged {
  background: var(--jp-success-color3, var(--jp-layout-color3));
}

.jf-mem-spilled {
  background: var(--jp-warn-color2, var(--jp-warn-color1));
}

.jf-mem-mark {
  position: absolute;
  top: -3px;
  bottom: -3px;
  width: 2px;
  margin-left: -1px;
}

.jf-mem-mark-spill {
  background: var(--jp-warn-color1);
}

.jf-mem-mark-pause {
  background: var(--jp-warn-color0, var(--jp-error-color2));
}

.jf-mem-mark-terminate {
  background: var(--jp-error-color1);
}

/* Profile */

.jf-profile-key {
  width: 18em;
  font-family: var(--jp-code-font-family);
}

.jf-profile-key[hidden] {
  display: none;
}

.jf-profile-search {
  width: 12em;
}

.jf-flame-box {
  padding: 8px;
}

.jf-flame-canvas {
  display: block;
  width: 100%;
  cursor: pointer;
}

.jf-flame-hover {
  padding: 0 8px 4px;
  font-size: var(--jp-ui-font-size0);
  min-height: 1.4em;
  overflow-wrap: anywhere;
}

.jf-stacks-bar {
  display: flex;
  align-items: center;
  flex-wrap: wrap;
  gap: 6px;
  padding: 6px 8px;
  border-top: 1px solid var(--jp-border-color2);
}

.jf-stacks {
  margin: 0 8px 8px;
  padding: 8px;
  background: var(--jp-layout-color2);
  color: var(--jp-content-font-color1, var(--jp-ui-font-color1));
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  white-space: pre-wrap;
  overflow: auto;
  max-height: 40vh;
}

.jf-pane-profile > .jf-pane-body > .jf-error {
  padding: 4px 8px;
}

/* Logs */

.jf-pane-logs .jf-pane-body {
  display: flex;
  flex-direction: column;
  overflow: hidden;
}

.jf-logs-list {
  flex: 1;
  overflow: auto;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  padding: 4px 0;
}

.jf-log-row {
  display: flex;
  flex-wrap: wrap;
  gap: 0 8px;
  padding: 1px 8px;
  align-items: baseline;
}

.jf-log-row:hover {
  background: var(--jp-layout-color2);
}

.jf-log-time,
.jf-log-worker,
.jf-log-kind,
.jf-log-key {
  color: var(--jp-ui-font-color2);
  white-space: nowrap;
  flex: none;
}

.jf-log-worker,
.jf-log-key {
  max-width: 14em;
  overflow: hidden;
  text-overflow: ellipsis;
}

.jf-log-kind {
  width: 4.5em;
}

.jf-log-text {
  flex: 1 1 12em;
  min-width: 0;
  white-space: pre-wrap;
  overflow-wrap: anywhere;
  color: var(--jp-content-font-color1, var(--jp-ui-font-color1));
}

.jf-log-stderr .jf-log-text,
.jf-log-stderr .jf-log-kind {
  color: var(--jp-error-color1);
}

.jf-logs-key {
  width: 8em;
}

.jf-logs-kinds {
  display: inline-flex;
  gap: 6px;
}

/* Futures */

.jf-futures-message:empty {
  display: none;
}

.jf-futures-message {
  padding: 4px 8px;
  color: var(--jp-ui-font-color2);
}

.jf-futures-list {
  display: flex;
  flex-direction: column;
  gap: 6px;
  padding: 8px;
}

.jf-futures-group {
  border: 1px solid var(--jp-border-color2);
  border-radius: 4px;
}

.jf-futures-head {
  display: flex;
  align-items: center;
  gap: 6px;
  padding: 4px 6px;
  background: var(--jp-layout-color2);
}

.jf-futures-cell {
  flex: 1;
  text-align: left;
  font: inherit;
  color: var(--jp-ui-font-color1);
  background: none;
  border: none;
  cursor: pointer;
  padding: 2px;
}

.jf-futures-cell:hover {
  text-decoration: underline;
}

.jf-futures-actions {
  display: inline-flex;
  gap: 4px;
}

.jf-futures-table {
  padding: 4px 8px;
}

.jf-futures-row {
  display: grid;
  grid-template-columns: 1fr 6em 6em 10em auto;
  align-items: center;
  gap: 8px;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
}

.jf-link-button {
  font: inherit;
  font-family: var(--jp-ui-font-family);
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-content-link-color, var(--jp-brand-color1));
  background: none;
  border: none;
  padding: 0 2px;
  cursor: pointer;
}

.jf-link-button:hover {
  text-decoration: underline;
}

.jf-futures-key {
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}

.jf-state-error,
.jf-state-erred {
  color: var(--jp-error-color1);
}

.jf-state-finished,
.jf-state-memory {
  color: var(--jp-success-color1);
}

.jp-Cell.jf-flash {
  outline: 2px solid var(--jp-brand-color1);
}

/* Status bar */

.jf-status-item {
  cursor: pointer;
  padding: 0 6px;
  line-height: 24px;
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size1);
}

/* Notebook 7 opens the panes in the panel below the notebook: never let it shrink to nothing. */
#jp-down-stack .jf-main-area {
  min-height: 200px;
}

/*
 * A future, progress bar or client output whose kernel restarted, stopped or is gone: a record of
 * what it last showed, not a live view. Dashed frame, muted note, the snapshot dimmed a little.
 */
.jf-not-live {
  border: var(--jp-border-width, 1px) dashed var(--jp-border-color1);
  border-radius: var(--jp-border-radius, 2px);
  margin: 2px 0;
}

.jf-not-live > .jf-not-live-note {
  color: var(--jp-content-font-color2);
}

.jf-not-live > :not(.jf-not-live-note) {
  opacity: 0.72;
}
`,""]),e.d(o,{},{A:p})},314(r){r.exports=function(r){var o=[];return o.toString=function(){return this.map(function(o){var e="",a=void 0!==o[5];return o[4]&&(e+="@supports (".concat(o[4],") {")),o[2]&&(e+="@media ".concat(o[2]," {")),a&&(e+="@layer".concat(o[5].length>0?" ".concat(o[5]):""," {")),e+=r(o),a&&(e+="}"),o[2]&&(e+="}"),o[4]&&(e+="}"),e}).join("")},o.i=function(r,e,a,t,n){"string"==typeof r&&(r=[[null,r,void 0]]);var p={};if(a)for(var i=0;i<this.length;i++){var l=this[i][0];null!=l&&(p[l]=!0)}for(var f=0;f<r.length;f++){var s=[].concat(r[f]);a&&p[s[0]]||(void 0!==n&&(void 0===s[5]||(s[1]="@layer".concat(s[5].length>0?" ".concat(s[5]):""," {").concat(s[1],"}")),s[5]=n),e&&(s[2]&&(s[1]="@media ".concat(s[2]," {").concat(s[1],"}")),s[2]=e),t&&(s[4]?(s[1]="@supports (".concat(s[4],") {").concat(s[1],"}"),s[4]=t):s[4]="".concat(t)),o.push(s))}},o}},601(r){r.exports=function(r){return r[1]}},72(r){var o=[];function e(r){for(var e=-1,a=0;a<o.length;a++)if(o[a].identifier===r){e=a;break}return e}function a(r,a){for(var t={},n=[],p=0;p<r.length;p++){var i=r[p],l=a.base?i[0]+a.base:i[0],f=t[l]||0,s="".concat(l," ").concat(f);t[l]=f+1;var d=e(s),c={css:i[1],media:i[2],sourceMap:i[3],supports:i[4],layer:i[5]};if(-1!==d)o[d].references++,o[d].updater(c);else{var j=function(r,o){var e=o.domAPI(o);return e.update(r),function(o){o?(o.css!==r.css||o.media!==r.media||o.sourceMap!==r.sourceMap||o.supports!==r.supports||o.layer!==r.layer)&&e.update(r=o):e.remove()}}(c,a);a.byIndex=p,o.splice(p,0,{identifier:s,updater:j,references:1})}n.push(s)}return n}r.exports=function(r,t){var n=a(r=r||[],t=t||{});return function(r){r=r||[];for(var p=0;p<n.length;p++){var i=e(n[p]);o[i].references--}for(var l=a(r,t),f=0;f<n.length;f++){var s=e(n[f]);0===o[s].references&&(o[s].updater(),o.splice(s,1))}n=l}}},659(r){var o={};r.exports=function(r,e){var a=function(r){if(void 0===o[r]){var e=document.querySelector(r);if(window.HTMLIFrameElement&&e instanceof window.HTMLIFrameElement)try{e=e.contentDocument.head}catch(r){e=null}o[r]=e}return o[r]}(r);if(!a)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");a.appendChild(e)}},540(r){r.exports=function(r){var o=document.createElement("style");return r.setAttributes(o,r.attributes),r.insert(o,r.options),o}},56(r,o,e){r.exports=function(r){var o=e.nc;o&&r.setAttribute("nonce",o)}},206(r){r.exports=function(r){if("u"<typeof document)return{update:function(){},remove:function(){}};var o=r.insertStyleElement(r);return{update:function(e){var a,t,n;a="",e.supports&&(a+="@supports (".concat(e.supports,") {")),e.media&&(a+="@media ".concat(e.media," {")),(t=void 0!==e.layer)&&(a+="@layer".concat(e.layer.length>0?" ".concat(e.layer):""," {")),a+=e.css,t&&(a+="}"),e.media&&(a+="}"),e.supports&&(a+="}"),(n=e.sourceMap)&&"u">typeof btoa&&(a+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(n))))," */")),r.styleTagTransform(a,o,r.options)},remove:function(){var r;null===(r=o).parentNode||r.parentNode.removeChild(r)}}}},113(r){r.exports=function(r,o){if(o.styleSheet)o.styleSheet.cssText=r;else{for(;o.firstChild;)o.removeChild(o.firstChild);o.appendChild(document.createTextNode(r))}}},579(r,o,e){var a=e(72),t=e.n(a),n=e(206),p=e.n(n),i=e(659),l=e.n(i),f=e(56),s=e.n(f),d=e(540),c=e.n(d),j=e(113),u=e.n(j),v=e(475),x={};x.styleTagTransform=u(),x.setAttributes=s(),x.insert=l().bind(null,"head"),x.domAPI=p(),x.insertStyleElement=c(),t()(v.A,x),v.A&&v.A.locals&&v.A.locals}}]);