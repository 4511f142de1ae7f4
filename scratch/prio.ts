import { JobQueue } from "../mod.ts";
const dir = await Deno.makeTempDir();
const queue = new JobQueue({ directory: dir, fsync: false, maxConcurrency: 1 });
const ran: string[] = [];
queue.registerJobHandler("work", (name: string) => {
  ran.push(name);
});
for (
  const spec of [
    { methodName: "work", params: "low" },
    { methodName: "work", params: "mid", priority: 5 },
    { methodName: "work", params: "top", priority: 10 },
    { methodName: "work", params: "default" },
  ]
) await queue.scheduleJob(spec);
queue.on("started", (j) => console.log("started", j.params, j.priority));
await queue.start();
await new Promise((r) => setTimeout(r, 500));
console.log(ran);
await queue.dispose();
