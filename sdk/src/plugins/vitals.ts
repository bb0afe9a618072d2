// Core Web Vitals through Google's web-vitals (attribution build): the value, its rating, the
// navigation type, the page it belongs to, and what caused it, as a selector and a few numbers.
import { onCLS, onFCP, onINP, onLCP, onTTFB } from 'web-vitals/attribution';
import type { Hub, Plugin } from '../types';
import { later } from '../setup';
import { safe } from '../util';

export const vitals: Plugin = (hub) => {
  // In the setup, not in init: setting up the observers costs, and their entries are
  // buffered, so none is missed.
  if (hub.o.vitals !== false) later(() => observe(hub));
};

function observe(hub: Hub) {
  // CLS and INP are reported when the page is hidden, maybe routes later: they belong here.
  const url = location.href;
  const route = hub.route();
  const report = safe((m: any) => {
    const a = m.attribution || {};
    const attribution =
      m.name === 'LCP'
        ? { target: a.target, url: a.url, resource_load_duration: a.resourceLoadDuration, element_render_delay: a.elementRenderDelay }
        : m.name === 'INP'
          ? { target: a.interactionTarget, input_delay: a.inputDelay, processing_duration: a.processingDuration, presentation_delay: a.presentationDelay }
          : m.name === 'CLS'
            ? { target: a.largestShiftTarget, largest_shift_value: a.largestShiftValue }
            : { time_to_first_byte: a.timeToFirstByte, waiting_duration: a.waitingDuration };
    const soft = m.navigationURL && m.navigationType === 'soft-navigation';
    hub.capture({
      type: 'vital',
      name: m.name,
      value: m.value,
      rating: m.rating,
      navigation_type: m.navigationType,
      attribution,
      url: soft ? m.navigationURL : url,
      route: soft ? hub.route() : route,
    });
  });
  for (const on of [onCLS, onFCP, onINP, onLCP, onTTFB]) on(report, { reportSoftNavs: true } as any);
}
