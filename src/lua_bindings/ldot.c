/*
** ldot.c - tk.dot(jobs or group): Graphviz DOT of jobs and their
** dependencies, coloured by state, with timings. See LICENSE for copyright
** and licence.
*/
#include <stdio.h>
#include <stdlib.h>

#include "handles.h"
#include "lopen.h"
#include "lopts.h"
#include "ltask.h"
#include "lwait.h"

static const char *const colours[] = {"white", "lightblue", "palegreen",
                                      "salmon", "lightgrey"};

/* Escapes a label for a double-quoted DOT string. */
static void add_escaped(luaL_Buffer *b, const char *s) {
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') luaL_addchar(b, '\\');
    if (*s == '\n') luaL_addstring(b, "\\n");
    else luaL_addchar(b, *s);
  }
}

static int l_dot(lua_State *L) {
  tk_group_t *g = tkl_test_handle(L, 1, TKL_K_GROUP);
  size_t n;
  tk_job_t **jobs;
  if (g != NULL) {
    size_t cap = tk_group_job_count(g);
    jobs = lua_newuserdatauv(L, (cap ? cap : 1) * sizeof *jobs, 0);
    n = tk_group_jobs(g, jobs, cap);  /* <= cap */
    for (size_t i = 0; i < n; i++) {  /* boxes own the references */
      tkl_push_handle(L, TKL_K_JOB, jobs[i]);
      lua_pop(L, 1);
    }
  } else {
    luaL_argexpected(L, lua_istable(L, 1), 1, "list of jobs or group");
    n = (size_t)tkl_check_list(L, 1, 1, "jobs");
    jobs = lua_newuserdatauv(L, (n ? n : 1) * sizeof *jobs, 0);
    for (size_t i = 0; i < n; i++) {
      lua_rawgeti(L, 1, (lua_Integer)i + 1);
      jobs[i] = tkl_check_list_job(L, -1, 1, "jobs", (lua_Integer)i + 1);
      lua_pop(L, 1);
    }
  }
  /* Node ids by job: the given jobs first, then dependencies met. */
  lua_newtable(L);
  int ids = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "digraph threadkit {\n  rankdir=LR;\n"
                     "  node [shape=box, style=\"rounded,filled\"];\n");
  lua_Integer next = 0;
  for (size_t i = 0; i < n; i++) {
    lua_pushinteger(L, ++next);
    lua_rawsetp(L, ids, jobs[i]);
  }
  for (size_t i = 0; i < n; i++) {
    tk_job_t *j = jobs[i];
    lua_rawgetp(L, ids, j);
    lua_Integer id = lua_tointeger(L, -1);
    lua_pop(L, 1);
    tk_job_state_t st = tk_job_state(j);
    const char *name = tk_job_name(j);
    lua_pushfstring(L, "  j%I [fillcolor=%s, label=\"", id, colours[st]);
    luaL_addvalue(&b);
    if (name) add_escaped(&b, name);
    else {
      lua_pushfstring(L, "job %I", id);
      luaL_addvalue(&b);
    }
    lua_pushfstring(L, "\\n%s", tk_job_state_name(st));
    luaL_addvalue(&b);
    double ms = tk_job_execution_time(j) * 1e3;
    if (ms >= 0) {
      char buf[48];
      snprintf(buf, sizeof buf, "\\n%.2f ms", ms);
      luaL_addstring(&b, buf);
    }
    const char *err = tk_job_error(j);
    if (err) {
      luaL_addstring(&b, "\\n");
      add_escaped(&b, err);
    }
    luaL_addstring(&b, "\"];\n");
    tkl_task *t = tkl_task_of(j);
    tkl_task_extra *x = t != NULL ? tkl_task_extra_peek(t) : NULL;
    for (int k = 0; x != NULL && k < x->nafter; k++) {
      lua_rawgetp(L, ids, x->after[k]);
      lua_Integer dep = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
      lua_pop(L, 1);
      if (dep == 0) {  /* a dependency outside the set: a plain node */
        dep = ++next;
        lua_pushinteger(L, dep);
        lua_rawsetp(L, ids, x->after[k]);
        tk_job_state_t ds = tk_job_state(x->after[k]);
        const char *dn = tk_job_name(x->after[k]);
        lua_pushfstring(L, "  j%I [fillcolor=%s, label=\"", dep, colours[ds]);
        luaL_addvalue(&b);
        if (dn) add_escaped(&b, dn);
        else luaL_addstring(&b, "job");
        lua_pushfstring(L, "\\n%s\"];\n", tk_job_state_name(ds));
        luaL_addvalue(&b);
      }
      lua_pushfstring(L, "  j%I -> j%I;\n", dep, id);
      luaL_addvalue(&b);
    }
  }
  luaL_addstring(&b, "}\n");
  luaL_pushresult(&b);
  return 1;
}

void tkl_open_dot(lua_State *L) {
  lua_pushcfunction(L, l_dot);
  lua_setfield(L, -2, "dot");
}
