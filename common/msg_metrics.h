/*
 * Messages of a metrics scrape (8xx).  A pull: each scrape asks every
 * process for its counters as they are now, so what metricsd serves is
 * exact at the time of the request.
 *
 *   metricsd          parent                       any other child
 *   M_MX_SCRAPE  ->                                 peerid = metricsd's
 *                                                   scrape; no payload
 *                     M_MX_REQ          ->          peerid = the parent's
 *                                                   scrape number
 *                                <-  M_MX_SAMPLES   samples (below)
 *                                <-  M_MX_END       no payload
 *                <-   M_MX_FWD  u8 process, data samples, as received
 *                <-   M_MX_FWD_END  u8 process: its samples are whole
 *                <-   M_MX_DONE  peerid as asked; u32 n, n x (u8
 *                                process, u8 answered)
 *
 * Samples, to the end of the frame: (str name, u8 type, u32 help, u8
 * nlabels, nlabels x (str label, str value), u64 value)+.  help is the
 * family (metrics.h), whose name and type the sample must have.  A
 * child sends as many M_MX_SAMPLES as it needs, each short enough for
 * the parent to wrap (MX_WRAP_RESERVE), then M_MX_END.  The parent forwards without
 * parsing; metricsd checks every field (metrics.h: mx_decode).
 *
 * The parent sends M_MX_DONE once every running child has answered, or
 * after MX_WAIT_MS, leaving out those that did not: M_MX_DONE names
 * every process it asked and whether it answered.  A child's answer to
 * an earlier scrape (it was stopped, and woke) is dropped.  metricsd
 * asks one scrape at a time; a second M_MX_SCRAPE before M_MX_DONE is
 * a broken metricsd.  The parent's own samples come as M_MX_FWD with
 * process 0 (relayd).
 */
#ifndef RELAYD_MSG_METRICS_H
#define RELAYD_MSG_METRICS_H

enum msg_metrics {
	M_MX_SCRAPE = 800,	/* metricsd -> parent */
	M_MX_REQ,		/* parent -> child */
	M_MX_SAMPLES,		/* child -> parent */
	M_MX_END,		/* child -> parent */
	M_MX_FWD,		/* parent -> metricsd: u8 proc, data */
	M_MX_FWD_END,		/* parent -> metricsd: u8 proc */
	M_MX_DONE,		/* parent -> metricsd */
	M_MX_MAX
};

#define MX_WAIT_MS	1000	/* a child slower than this is left out */
#define MX_WRAP_RESERVE	64	/* room the parent needs to forward */

#endif
