/* The manifest's FunctionFile. The add-in has no function commands; Office only needs the page to initialise. */
"use strict";
if (window.Office) {
  Office.onReady(function () {});
}
